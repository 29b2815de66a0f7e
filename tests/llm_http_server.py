"""A tiny OpenAI-compatible HTTP server for the LLM tests (pytest-httpserver on a real socket).

It is not a language model: it answers by fixed rules so tests can drive the client's HTTP,
retry, repair and failure paths over a real socket. Markers in the report text choose the rule:

* ``MARK-INVALID-ALWAYS``  -> always a reply that is not JSON
* ``MARK-INVALID-ONCE``    -> not JSON on the first turn, a valid extraction on the repair turn
* ``MARK-FLAKY``           -> HTTP 503 on the first request with that text, then normal
* anything else            -> a valid extraction (hazard from a keyword, severities from text length)

Reduce prompts get a narrative citing the first ``[kind:id]`` in the evidence plus two ids that
do not exist; with a ``<manuals>`` block, a second action cites its first ``[manual:...]`` and one unknown
section. ``GET /stats`` returns the number of chat requests served.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


def _extraction(text: str) -> dict[str, Any]:
    hazard = "electrical" if "cable" in text.lower() else "struck_by"
    return {
        "hazard_category": hazard,
        "severity": 1 + len(text) % 3,
        "potential_severity": 3 + len(text) % 3,
        "injury": "injur" in text.lower(),
        "causes": ["test cause"],
        "controls": [],
    }


def _json(code: int, payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload), status=code, content_type="application/json")


class RuleBasedLLM:
    """The rules above, with the request count and the flaky texts already answered (thread-safe)."""

    def __init__(self) -> None:
        self.requests = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def _answer(self, body: dict[str, Any]) -> tuple[int, str]:
        msgs = body["messages"]
        user = msgs[1]["content"]
        repair_turn = len(msgs) > 2
        if "<evidence>" in user:
            ids = re.findall(r"\[((?:incident|alert|anomaly|outage):[^\]]+)\]", user)
            cited = ids[:1] + ["incident:999999", "alert:does-not-exist"]
            actions = ["Check guards"]
            block = user.partition("<manuals>")[2].partition("</manuals>")[0]
            manual = re.findall(r"\[(manual:[^\]]+)\]", block)
            if manual:  # cite the first manual section shown plus one that was never shown
                actions.append(f"Follow the procedure [{manual[0]}] [manual:made-up.md#Nowhere]")
            return 200, json.dumps({"summary": "Test summary.", "actions": actions, "evidence_ids": cited})
        if "MARK-INVALID-ALWAYS" in user:
            return 200, "Sure! Here is the data: {hazard: struck"
        if "MARK-INVALID-ONCE" in user and not repair_turn:
            return 200, '{"hazard_category": "struck_by", "severity": 9'
        if "MARK-FLAKY" in user:
            with self._lock:
                first = user not in self._seen
                self._seen.add(user)
            if first:
                return 503, ""
        return 200, json.dumps(_extraction(user))

    def chat(self, request: Request) -> Response:
        """``POST /v1/chat/completions``."""
        body = json.loads(request.get_data())
        with self._lock:
            self.requests += 1
        if body.get("response_format", {}).get("type") != "json_schema":
            return _json(400, {"error": "response_format json_schema required"})
        code, content = self._answer(body)
        if code != 200:
            return _json(code, {"error": "unavailable"})
        return _json(
            200,
            {
                "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": len(content) // 4},
            },
        )

    def stats(self, _request: Request) -> Response:
        """``GET /stats``."""
        with self._lock:
            return _json(200, {"requests": self.requests})


def start_server() -> HTTPServer:
    """A started server on a free port of 127.0.0.1 (``server.port``); call ``server.stop()`` when done."""
    llm = RuleBasedLLM()
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(llm.chat)
    server.expect_request("/stats", method="GET").respond_with_handler(llm.stats)
    server.start()
    return server
