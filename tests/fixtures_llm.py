"""The rule-based OpenAI-compatible test server (``tests/llm_http_server.py``), one process per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.llm_factories import free_port, start_server


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    """Port of a freshly started test LLM server, stopped after the module."""
    port = free_port()
    proc = start_server(port)
    yield port
    proc.terminate()
    proc.wait(timeout=10)
