"""The ``openai`` backend against a REAL ``llama_cpp.server`` process serving the packaged GGUF.

``llama_cpp.server`` 0.3.x rejects ``response_format`` type ``json_schema`` (HTTP 500 carrying the validation error); the backend must
fall back to ``{"type": "json_object", "schema": ...}`` and still return typed, validated extractions.
Skipped when the model or the server extra is missing, unless ``FLOORWATCH_REQUIRE_LLM=1``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from floorwatch.config import LLMConfig
from floorwatch.llm.backends import OpenAIBackend, rejects_json_schema
from floorwatch.llm.prompts import extraction_request
from floorwatch.schemas.llm import HAZARD_CATEGORIES, IncidentExtraction
from tests.llm_factories import free_port, require_local_model

pytestmark = [pytest.mark.llm, pytest.mark.slow]

REPORTS = [
    "While cleaning the conveyor, the operator's glove was caught between the belt and the tail pulley; "
    "two fingers were bruised. First aid given.",
    "A worker slipped on spilled oil on the workshop floor and sprained his ankle; he missed two days of work.",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = require_local_model("fastapi", "llama_cpp.server", "sse_starlette", "uvicorn")
    port = free_port()
    log = (tmp_path_factory.mktemp("llamacpp") / "server.log").open("wb")
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}; see {log.name}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer /v1/models within 120 s; see {log.name}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def test_server_rejects_json_schema_format(server: str) -> None:
    """Why the fallback exists: this server's request model only knows text/json_object."""
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    }
    resp = httpx.post(f"{server}/chat/completions", json=body, timeout=60)
    # 0.3.36 answers 500 with the validation error (literal_error on response_format.type)
    assert rejects_json_schema(resp.status_code, resp.text), (resp.status_code, resp.text[:300])


def test_openai_backend_extracts_typed_results_from_real_server(server: str) -> None:
    cfg = LLMConfig(backend="openai", base_url=server, timeout_seconds=300, max_concurrency=1, max_tokens=200)
    backend = OpenAIBackend(cfg)
    requests = [extraction_request(f"r{i}", text) for i, text in enumerate(REPORTS)]
    results = backend.generate_json(requests, IncidentExtraction)
    assert backend.response_format_type == "json_object"  # fell back after the rejection
    assert [r.id for r in results] == ["r0", "r1"]
    for res in results:
        assert res.ok, f"{res.id}: {res.error} raw={res.raw!r}"
        ex = res.parsed
        assert isinstance(ex, IncidentExtraction) and ex.hazard_category in HAZARD_CATEGORIES
        assert 1 <= ex.severity <= 5 and 1 <= ex.potential_severity <= 5 and isinstance(ex.injury, bool)
        assert res.completion_tokens > 0 and res.prompt_tokens > 0
        # the severity digits' distribution from the server's top_logprobs (probability-weighted severity)
        assert set(res.probes) == {"severity", "potential_severity"}, res.probes
        for key, dist in res.probes.items():
            assert len(dist) == 5 and abs(sum(dist) - 1) < 1e-6
            assert dist[getattr(ex, key) - 1] > 0  # the digit the server wrote is among the alternatives
