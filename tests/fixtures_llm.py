"""The rule-based OpenAI-compatible test server (``tests/llm_http_server.py``), one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.llm_http_server import start_server


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    """Port of a freshly started test LLM server, stopped after the module."""
    server = start_server()
    yield server.port
    server.clear()
    server.stop()
