"""Small builders for the LLM tests: a migrated SQLite database, incident rows, the served-request count."""

from __future__ import annotations

import hashlib
import importlib
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.llm.gguf import ModelNotInstalledError, ensure_model
from floorwatch.schemas.tables import IncidentReport
from floorwatch.storage.db import make_engine, session_factory, session_scope
from floorwatch.storage.migrate import upgrade
from floorwatch.storage.registry import ensure_zones


def sqlite_db(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'fw.db'}")
    upgrade(engine)
    return session_factory(engine)


def add_incidents(factory: sessionmaker[Session], rows: list[tuple[str, str, str]], day: int = 10) -> list[int]:
    """Insert ``(source_id, zone_id, text)`` rows on consecutive hours of 2024-03-<day>; returns their ids."""
    with session_scope(factory) as s:
        ensure_zones(s, {z for _, z, _ in rows})
        objs = []
        for i, (sid, zone, text) in enumerate(rows):
            obj = IncidentReport(
                source="test.csv",
                source_id=sid,
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
                occurred_at=datetime(2024, 3, day, 8 + i, tzinfo=UTC),
                zone_id=zone,
                original_text=text,
                redacted_text=text,
            )
            s.add(obj)
            objs.append(obj)
        s.flush()
        return [o.id for o in objs]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served(port: int) -> int:
    return int(httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()["requests"])


def require_local_model(*modules: str) -> Path:
    """The packaged GGUF, after importing ``llama_cpp`` and ``modules``; skip the test when something is
    missing, or fail it under ``FLOORWATCH_REQUIRE_LLM=1`` (CI, where the model must be there)."""
    what = " + ".join(("llama-cpp-python", *modules))
    try:
        for name in ("llama_cpp", *modules):
            importlib.import_module(name)
        return ensure_model()
    except (ImportError, ModelNotInstalledError) as exc:
        if os.environ.get("FLOORWATCH_REQUIRE_LLM") == "1":
            pytest.fail(f"FLOORWATCH_REQUIRE_LLM=1 but the packaged model or {what} is missing: {exc}")
        pytest.skip(f"packaged model or {what} not installed: {exc}")
