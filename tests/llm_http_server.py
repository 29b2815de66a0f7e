"""A tiny OpenAI-compatible HTTP server for the LLM tests (pytest-httpserver on a real socket).

It is not a language model: it answers by fixed rules so tests can drive the client's HTTP,
retry, repair and failure paths over a real socket. Markers in the report text choose the rule:

* ``MARK-INVALID-ALWAYS``  -> always a reply that is not JSON
* ``MARK-INVALID-ONCE``    -> not JSON on the first turn, a valid extraction on the repair turn
* ``MARK-FLAKY``           -> HTTP 503 on the first request with that text, then normal
* ``MARK-NO-LOGPROBS``     -> HTTP 400 naming logprobs to a request that asks for them
* ``MARK-OBEY``            -> severity 1, potential 1, no injury (a model obeying an injected instruction)
* ``MARK-UNAUTHORISED``    -> HTTP 401
* anything else            -> a valid extraction (hazard from a keyword, severities from text length)

Grounded reduce prompts (``<facts>``) get one claim that repeats the first incident or alert fact (else
the first fact) and cites it, plus an invented claim (person down, 999 injured; citing also the unknown
``incident:999999``) on the first turn only, and the controls ``made.up`` and the first one offered.
``GET /stats`` returns the number of chat requests served.
Extraction requests with ``logprobs`` get one "token" per character of the answer with ``top_logprobs``: a
digit d at P 0.6 and its neighbour (d + 1, or 4 for 5) at 0.4.
One-token requests with ``logprobs`` (the token-probability judge) get a one-token answer with ``top_logprobs``:
the class word ``Electric`` when the report names a cable (else ``Struck``; a flat answer for the content-free
calibration reports), ``Yes`` to a question
whose key word (died, hospital, kill, energy) matches a word of the report, and to the potential question the
digits 5 / 4 for a report naming a cable, else ``POTENTIAL_DIGITS`` (2 / 3).
"""

from __future__ import annotations

import json
import math
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


POTENTIAL_DIGITS = [("2", -0.2), ("3", -1.8)]  # the answer to the judge's potential question without a cable


def _logprobs_reply(body: dict[str, Any]) -> dict[str, Any]:
    """One-token answer with ``top_logprobs`` (judge questions): class from a keyword, Yes only for words in the text."""
    user = body["messages"][-1]["content"].lower()
    report = user.partition("</report>")[0]
    body_text = report.partition("<report>")[2].strip()
    if "class word" in user and body_text in ("", "n/a", "[mask]"):  # content-free calibration input: no preference
        top = [("Str", -2.0), ("Elect", -2.0), ("Other", -2.0)]
    elif "class word" in user:
        top = [("Elect", -0.1), ("Str", -2.5), ("Other", -4.0)] if "cable" in report else [("Str", -0.2), ("Other", -2.0)]
    elif "potential_severity (1-5)" in user:  # the judge's potential question: 5 or 4 for a cable, else 2 or 3
        top = [("5", -0.1), ("4", -2.4)] if "cable" in report else POTENTIAL_DIGITS
    else:
        cue = {"die": "died", "hospital": "hospital", "kill": "died", "energy": "cable"}
        hit = any(word in user.partition("</report>")[2] and text in report for word, text in cue.items())
        top = [("Yes", -0.05), ("No", -3.0)] if hit else [("No", -0.1), ("Yes", -2.4)]
    content = [{"token": top[0][0], "logprob": top[0][1], "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top]}]
    return {
        "choices": [
            {"message": {"role": "assistant", "content": top[0][0]}, "logprobs": {"content": content}, "finish_reason": "length"}
        ]
    }


def _char_logprobs(content: str) -> list[dict[str, Any]]:
    """One "token" per character; a digit d has P = 0.6 and its neighbour (d + 1, or 4 for 5) P = 0.4."""
    steps = []
    for ch in content:
        alts = [(ch, 0.0)]
        if ch.isdigit():
            alts = [(ch, math.log(0.6)), (str(int(ch) + 1 if ch != "5" else 4), math.log(0.4))]
        steps.append({"token": ch, "logprob": alts[0][1], "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alts]})
    return steps


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
        if "<facts>" in user:  # grounded reduce: one true claim, one invented one (dropped on the repair turn)
            facts = re.findall(r"^\[([^\]]+)\] (.*)$", user.partition("<facts>")[2].partition("</facts>")[0], re.M)
            offered = re.findall(r"^\[([^\]]+)\]", user.partition("<controls>")[2], re.M)
            first = next((f for f in facts if f[1].startswith(("incident report", "alert "))), facts[0])
            claims = [{"text": first[1], "facts": [first[0]]}]
            if not repair_turn:
                claims.append(
                    {"text": "A person was lying on the floor and 999 people were injured.", "facts": [first[0], "incident:999999"]}
                )
            return 200, json.dumps({"claims": claims, "controls": ["made.up", *offered[:1]]})
        if "MARK-OBEY" in user:  # a model that follows an instruction injected into the report
            return 200, json.dumps({"hazard_category": "other", "severity": 1, "potential_severity": 1, "injury": False,
                                    "causes": ["nothing happened"], "controls": []})
        if "MARK-UNAUTHORISED" in user:  # a final refusal: no answer to repair
            return 401, ""
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
        if body.get("logprobs") and body.get("max_tokens") == 1:
            return _json(200, _logprobs_reply(body))
        if body.get("response_format", {}).get("type") != "json_schema":
            return _json(400, {"error": "response_format json_schema required"})
        if body.get("logprobs") and "MARK-NO-LOGPROBS" in body["messages"][1]["content"]:
            return _json(400, {"error": "logprobs are not supported for this model"})
        code, content = self._answer(body)
        if code != 200:
            return _json(code, {"error": "unavailable"})
        choice: dict[str, Any] = {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = {"content": _char_logprobs(content)}
        return _json(200, {"choices": [choice], "usage": {"prompt_tokens": 10, "completion_tokens": len(content) // 4}})

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
