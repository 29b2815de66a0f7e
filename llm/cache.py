"""Response cache in the ``llm_cache`` table: a re-run with the same prompt version, model and input costs nothing.

Only valid replies are cached; a failed row is tried again on the next run.
"""

from __future__ import annotations

import hashlib
import json
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.llm.backends import LLMBackend, result_for
from floorwatch.schemas.llm import LLMRequest, LLMResult
from floorwatch.schemas.tables import LLMCache
from floorwatch.storage.upsert import upsert

M = TypeVar("M", bound=BaseModel)


def cache_key(prompt_version: str, model: str, request: LLMRequest, schema: type[BaseModel]) -> str:
    """sha256 over (prompt version, model, output schema name, messages, token cap and, when asked, the probes)."""
    doc = {
        "v": prompt_version,
        "model": model,
        "schema": schema.__name__,
        "messages": [[m.role, m.content] for m in request.messages],
        "max_tokens": request.max_tokens,
    } | ({"probes": {k: list(v) for k, v in sorted(request.probes.items())}} if request.probes else {})
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def cached_generate(
    session: Session,
    backend: LLMBackend,
    requests: list[LLMRequest],
    schema: type[M],
    prompt_version: str,
) -> list[LLMResult[M]]:
    """``backend.generate_json`` for the requests not in the cache; valid new replies are stored.

    The caller commits. Results keep request order; cached ones have ``cached=True`` and zero seconds.
    """
    keys = [cache_key(prompt_version, backend.model_name, r, schema) for r in requests]
    hits: dict[str, dict] = {}
    for i in range(0, len(keys), 500):
        rows = session.execute(select(LLMCache.key, LLMCache.response).where(LLMCache.key.in_(keys[i : i + 500])))
        hits.update({k: v for k, v in rows})
    todo = [(k, r) for k, r in zip(keys, requests, strict=True) if k not in hits]
    fresh = dict(zip([k for k, _ in todo], backend.generate_json([r for _, r in todo], schema), strict=True)) if todo else {}
    store = [
        {"key": k, "response": _response(res)}
        for k, res in fresh.items()
        if res.parsed is not None
    ]
    upsert(session, LLMCache, store, key=["key"])
    out: list[LLMResult[M]] = []
    for k, req in zip(keys, requests, strict=True):
        if k in hits:
            parsed = schema.model_validate(hits[k]["parsed"])
            out.append(result_for(
                schema, id=req.id, parsed=parsed, raw=hits[k].get("raw", ""), cached=True, probes=hits[k].get("probes") or {}
            ))
        else:
            out.append(fresh[k])
    return out


def remember(
    session: Session, backend: LLMBackend, request: LLMRequest, schema: type[M], result: LLMResult[M], prompt_version: str
) -> None:
    """Store a valid ``result`` under ``request``'s key (a repaired reply under the original prompt)."""
    if result.parsed is None:
        return
    key = cache_key(prompt_version, backend.model_name, request, schema)
    upsert(session, LLMCache, [{"key": key, "response": _response(result)}], key=["key"])


def _response(result: LLMResult[M]) -> dict:
    """What the cache keeps of a valid reply: raw text, parsed fields and any probed probabilities."""
    assert result.parsed is not None  # noqa: S101 - callers store valid replies only
    return {"raw": result.raw, "parsed": result.parsed.model_dump(mode="json")} | ({"probes": result.probes} if result.probes else {})
