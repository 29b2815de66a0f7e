"""A tiny OpenAI-compatible HTTP server, run as a separate process by the LLM tests.

It is not a language model: it answers by fixed rules so tests can drive the client's HTTP,
retry, repair and failure paths over a real socket. Markers in the report text choose the rule:

* ``MARK-INVALID-ALWAYS``  -> always a reply that is not JSON
* ``MARK-INVALID-ONCE``    -> not JSON on the first turn, a valid extraction on the repair turn
* ``MARK-FLAKY``           -> HTTP 503 on the first request with that text, then normal
* anything else            -> a valid extraction (hazard from a keyword, severities from text length)

Grounded reduce prompts (``<facts>``) get one claim that repeats the first incident or alert fact (else
the first fact) and cites it, plus an invented claim (person down, 999 injured; citing also the unknown
``incident:999999``) on the first turn only, and the controls ``made.up`` and the
first one offered. Old-style reduce prompts get a narrative citing the first ``[kind:id]`` in the evidence plus two ids that
do not exist; with a ``<manuals>`` block, a second action cites its first ``[manual:...]`` and one unknown section. ``GET /stats`` returns the number of chat requests served.
Requests with ``logprobs`` (the token-probability judge) get a one-token answer with ``top_logprobs``:
the class ``electrical`` when the report names a cable (else ``struck_by``), and ``Yes`` to a question
whose key word (died, hospital, kill, energy) matches a word of the report.

Usage: ``python tests/llm_http_server.py PORT``
"""

from __future__ import annotations

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"requests": 0, "seen": set()}


def _extraction(text: str) -> dict:
    hazard = "electrical" if "cable" in text.lower() else "struck_by"
    return {
        "hazard_category": hazard,
        "severity": 1 + len(text) % 3,
        "potential_severity": 3 + len(text) % 3,
        "injury": "injur" in text.lower(),
        "causes": ["test cause"],
        "controls": [],
    }


def _answer(body: dict) -> tuple[int, str]:
    msgs = body["messages"]
    user = msgs[1]["content"]
    repair_turn = len(msgs) > 2
    if "<facts>" in user:  # grounded reduce: one true claim, one invented one (dropped on the repair turn)
        facts = re.findall(r"^\[([^\]]+)\] (.*)$", user.partition("<facts>")[2].partition("</facts>")[0], re.M)
        offered = re.findall(r"^\[([^\]]+)\]", user.partition("<controls>")[2], re.M)
        first = next((f for f in facts if f[0].startswith(("incident:", "alert:"))), facts[0])
        claims = [{"text": first[1], "facts": [first[0]]}]
        if not repair_turn:
            claims.append({"text": "A person was lying on the floor and 999 people were injured.", "facts": [first[0], "incident:999999"]})
        return 200, json.dumps({"claims": claims, "controls": ["made.up", *offered[:1]]})
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
    if "MARK-FLAKY" in user and user not in STATE["seen"]:
        STATE["seen"].add(user)
        return 503, ""
    return 200, json.dumps(_extraction(user))


def _logprobs_reply(body: dict) -> dict:
    """One-token answer with ``top_logprobs`` (judge questions): class from a keyword, Yes only for words in the text."""
    user = body["messages"][-1]["content"].lower()
    report = user.partition("</report>")[0]
    if "class name" in user:
        top = [("elect", -0.1), ("str", -2.5), ("other", -4.0)] if "cable" in report else [("str", -0.2), ("other", -2.0)]
    else:
        cue = {"died": "died", "hospital": "hospital", "kill": "died", "energy": "cable"}
        hit = any(word in user.partition("</report>")[2] and text in report for word, text in cue.items())
        top = [("Yes", -0.05), ("No", -3.0)] if hit else [("No", -0.1), ("Yes", -2.4)]
    content = [{"token": top[0][0], "logprob": top[0][1], "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top]}]
    return {"choices": [{"message": {"role": "assistant", "content": top[0][0]}, "logprobs": {"content": content}, "finish_reason": "length"}]}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _send(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._send(200, {"requests": STATE["requests"]})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        STATE["requests"] += 1
        if body.get("logprobs"):
            self._send(200, _logprobs_reply(body))
            return
        if body.get("response_format", {}).get("type") != "json_schema":
            self._send(400, {"error": "response_format json_schema required"})
            return
        code, content = _answer(body)
        if code != 200:
            self._send(code, {"error": "unavailable"})
            return
        self._send(
            200,
            {
                "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": len(content) // 4},
            },
        )


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
