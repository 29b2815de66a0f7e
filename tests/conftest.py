"""Shared fixtures. Service fixtures live in ``tests/fixtures_*.py`` and are re-exported here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FLOORWATCH_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

# Keep model libraries offline and the 2-core machine calm in every test process.
os.environ.setdefault("FLOORWATCH_STATE_DIR", str(REPO_ROOT / "var" / "test-state"))
from floorwatch.runtime import configure_offline  # noqa: E402

configure_offline()


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (expected ../shared/data beside the repo)")
    return path


@pytest.fixture
def fresh_sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite URL whose file and folder do not exist yet (no ``db upgrade`` run), set as
    ``FLOORWATCH_DATABASE__URL`` for the CLI; ``FLOORWATCH_CONFIG`` unset."""
    url = f"sqlite:///{tmp_path / 'fresh' / 'floorwatch.db'}"
    monkeypatch.setenv("FLOORWATCH_DATABASE__URL", url)
    monkeypatch.delenv("FLOORWATCH_CONFIG", raising=False)
    return url

from tests.fixtures_kafka import *  # noqa: E402,F401,F403
from tests.fixtures_llm import server_port  # noqa: E402,F401
from tests.fixtures_postgres import db_url, migrated_db, postgres_server, postgres_url  # noqa: E402,F401
from tests.fixtures_prefect import prefect_server  # noqa: E402,F401
from tests.fixtures_vision import bus, fall_model  # noqa: E402,F401
