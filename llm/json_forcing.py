"""Text a JSON schema forces next, so a decoder can feed it without generating it token by token.

Constrained decoding of a flat JSON object spends many steps on text the schema already fixes: key names,
the ``":"`` after them, the quote that opens a string value, the rest of an enum value once its prefix is
unique, the separator before the next required key. Feeding that text in one batch instead of one token
per step is "jump-forward decoding" (Zheng et al. 2024, "SGLang: Efficient Execution of Structured
Language Model Programs", section 4). On the 2-core box one generated token costs ~36 ms and each further
token of a short batch ~18 ms (benchmarks/RESULTS.md, issue 12).

:func:`forced_continuation` reads a compact JSON prefix and a JSON schema and returns that text ("" when
the model has a real choice). It follows the property order of llama.cpp's schema grammar
(``llama_cpp.llama_grammar.SchemaConverter._build_object_rule``): required properties in schema order,
then the optional ones in schema order. Only the top-level object is forced; inside nested arrays and
objects the model generates everything. The decoder still checks every forced token against the grammar.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_LITERALS = ("true", "false", "null")


@dataclass
class _State:
    """Where a compact JSON prefix stands at the top-level object."""

    phase: str = "start"  # start | key | colon | value | after | nested | done
    used: list[str] = field(default_factory=list)
    partial: str = ""  # the key or primitive value read so far
    in_string: bool = False
    value_is_string: bool = False


def _scan(text: str) -> _State | None:  # noqa: C901, PLR0912 - one character-level state machine
    """The state after ``text``; None when the text is not a JSON object prefix this module understands."""
    st = _State()
    depth = 0
    escape = False
    for ch in text:
        if st.phase == "nested":
            if st.in_string:
                st.in_string = not (ch == '"' and not escape)
                escape = ch == "\\" and not escape
                continue
            if ch == '"':
                st.in_string = True
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
                if depth == 1:
                    st.phase = "after"
            continue
        if st.in_string:
            if escape:
                escape = False
                st.partial += ch
            elif ch == "\\":
                escape = True
                st.partial += ch
            elif ch == '"':
                st.in_string = False
                if st.phase == "key":
                    st.used.append(st.partial)
                    st.phase, st.partial = "colon", ""
                else:
                    st.phase, st.partial = "after", ""
            else:
                st.partial += ch
            continue
        if ch.isspace() and st.phase != "value":
            continue
        if st.phase == "start":
            if ch != "{":
                return None
            depth, st.phase = 1, "key"
        elif st.phase == "key":
            if ch == '"':
                st.in_string, st.partial = True, ""
            elif ch == "}":
                st.phase = "done"
            else:
                return None
        elif st.phase == "colon":
            if ch != ":":
                return None
            st.phase, st.partial, st.value_is_string = "value", "", False
        elif st.phase == "value":
            if ch.isspace() and not st.partial:
                continue
            if ch == '"' and not st.partial:
                st.in_string, st.value_is_string = True, True
            elif ch in "[{" and not st.partial:
                depth, st.phase = 2, "nested"
            elif ch in ",}":
                st.phase = "key" if ch == "," else "done"
                st.partial = ""
            else:
                st.partial += ch
        elif st.phase == "after":
            if ch == ",":
                st.phase = "key"
            elif ch == "}":
                st.phase = "done"
            else:
                return None
        elif st.phase == "done":
            return None
    return st


def _order(schema: dict[str, Any]) -> tuple[list[str], list[str]]:
    props = list(schema.get("properties", {}))
    required = set(schema.get("required", []))
    return [p for p in props if p in required], [p for p in props if p not in required]


def _next_keys(schema: dict[str, Any], used: list[str]) -> list[str]:
    """Keys the grammar allows next: the first unused required one, else the optional ones after the last used."""
    req, opt = _order(schema)
    missing = [k for k in req if k not in used]
    if missing:
        return missing[:1]
    after = max((opt.index(k) for k in used if k in opt), default=-1)
    return opt[after + 1 :]


def _after_key(prop: dict[str, Any]) -> str:
    """Forced text after a key's name, up to a natural token boundary.

    ``":"`` for a plain string (one token in BPE vocabularies, and the value must open with a quote), ``":``
    for a number or boolean (the value is the next token). For a nullable string, an array or an object the
    key name's closing quote is left to the model: its natural next token is ``":"``, ``":null``, ``":["`` or
    ``":[]``, and feeding ``":`` alone would split that token - a 1.5B model then answered ``null`` for
    fields it filled before and wrote its lists differently (measured on 16 development reports).
    """
    kind = prop.get("type")
    if kind == "string":
        return '":"'
    if kind in ("integer", "number", "boolean"):
        return '":'
    return ""


def _complete_literal(prop: dict[str, Any], partial: str) -> bool:
    """Whether a primitive value read so far is already complete under the schema."""
    if partial in _LITERALS:
        return True
    if prop.get("type") == "integer" and partial.isdigit():
        lo, hi = prop.get("minimum"), prop.get("maximum")
        return lo is not None and hi is not None and lo >= 0 and hi <= 9  # noqa: PLR2004 - one digit
    return False


def _key_then_value(schema: dict[str, Any], key: str) -> str:
    name = json.dumps(key)[1:-1]
    return name + _after_key(schema["properties"][key])


def _after_value(schema: dict[str, Any], used: list[str]) -> str:
    nxt = _next_keys(schema, used)
    req, _ = _order(schema)
    if len(nxt) == 1 and nxt[0] in req:
        return ',"' + _key_then_value(schema, nxt[0])
    return ""


def forced_continuation(schema: dict[str, Any], text: str) -> str:
    """The text the schema forces after ``text`` (a compact JSON prefix); "" when the model must choose.

    ``schema``: a JSON schema of an object (``properties``, ``required``; enum and integer bounds read).
    Examples with required ``a`` (enum ``"red"``, ``"blue"``) and ``n`` (integer 1-5)::

        forced_continuation(s, "")            -> '{"a":"'
        forced_continuation(s, '{"a":"r')     -> 'ed","n":'
        forced_continuation(s, '{"a":"red","n":3') -> ''   (optional keys or the end: the model chooses)
    """
    st = _scan(text)
    if st is None or st.phase in ("nested", "done"):
        return ""
    props = schema.get("properties", {})
    if st.phase == "start":
        nxt = _next_keys(schema, [])
        return '{"' + _key_then_value(schema, nxt[0]) if len(nxt) == 1 else ""
    if st.phase == "key" and st.in_string:
        fits = [k for k in _next_keys(schema, st.used) if k.startswith(st.partial)]
        if len(fits) != 1:
            return ""
        return fits[0][len(st.partial) :] + _after_key(props[fits[0]])
    if st.phase == "value" and st.used:
        key = st.used[-1]
        prop = props.get(key, {})
        if st.in_string:
            fits = [v for v in prop.get("enum", []) if isinstance(v, str) and v.startswith(st.partial)]
            if len(fits) != 1:
                return ""
            return fits[0][len(st.partial) :] + '"' + _after_value(schema, st.used)
        if st.partial and _complete_literal(prop, st.partial):
            return _after_value(schema, st.used)
        return ""
    if st.phase == "after":
        return _after_value(schema, st.used)
    return ""


def value_position(text: str) -> str | None:
    """The top-level key whose value starts right after ``text`` (``'{"a":1,"b":'`` -> ``"b"``), else None."""
    st = _scan(text)
    if st is None or st.phase != "value" or st.partial or st.in_string or not st.used:
        return None
    return st.used[-1]


def json_complete(text: str) -> bool:
    """Whether ``text`` is a whole top-level JSON object (the decoder may stop)."""
    st = _scan(text)
    return st is not None and st.phase == "done"


def probes_from_steps(
    steps: Sequence[tuple[str, Mapping[str, float]]], probes: Mapping[str, Sequence[str]]
) -> dict[str, list[float]]:
    """Candidate probabilities at each probed key's value, from a server's per-token log-probabilities.

    Args:
        steps: one ``(token text, {alternative token text: log-probability})`` per generated token, in order
            (OpenAI ``choices[0].logprobs.content[i].token`` / ``top_logprobs``; vLLM ``Logprob.decoded_token``).
        probes: top-level key -> candidate answers (``LLMRequest.probes``).

    Returns:
        Per key found: the softmax-renormalised probabilities of the candidates (same order) at the first
        non-whitespace token of that key's value; a candidate's mass is the sum over the alternatives whose text,
        stripped of whitespace, equals it (``"3"`` and ``" 3"``). A key whose value was not reached or whose alternatives name no candidate is
        left out (its expected value is then unknown, never guessed).
    """
    out: dict[str, list[float]] = {}
    text = ""
    for token, alternatives in steps:
        key = value_position(text) if token.strip() else None
        if key is not None and key in probes and key not in out:
            mass = [sum(math.exp(lp) for t, lp in alternatives.items() if t.strip() == c) for c in probes[key]]
            if sum(mass) > 0:
                out[key] = [m / sum(mass) for m in mass]
        text += token
    return out
