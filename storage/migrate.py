"""Alembic migrations, run programmatically: ``floorwatch db upgrade`` and the start-up schema check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from floorwatch.storage.db import SchemaOutdatedError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision(engine: Engine) -> str:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Apply migrations up to ``revision``; returns the revision now current."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current_revision(engine) or ""


def ensure_current(engine: Engine) -> None:
    """Refuse to run on a schema other than this code's head, with a message that says what to do."""
    head = head_revision(engine)
    current = current_revision(engine)
    if current != head:
        url = engine.url.render_as_string(hide_password=True)
        state = "empty (no tables)" if current is None else f"at revision {current}"
        raise SchemaOutdatedError(
            f"database {url} is {state}, this Floorwatch needs revision {head}: run `floorwatch db upgrade`"
        )


def upgrade_embedded(engine: Engine) -> str | None:
    """Create or migrate an embedded SQLite database on first use; other databases are left alone.

    An empty SQLite file, or one at an older revision of this code's history, is upgraded to head
    (one user, one file: nothing to coordinate). A revision this code does not know is left for
    ``ensure_current`` to refuse. PostgreSQL still needs ``floorwatch db upgrade``.

    Returns:
        The revision the database was upgraded from (``"empty"`` for a new one), or ``None`` when nothing was done.
    """
    if engine.url.get_backend_name() != "sqlite":
        return None
    current = current_revision(engine)
    script = ScriptDirectory.from_config(alembic_config(engine))
    if current == script.get_current_head():
        return None
    if current is not None:
        try:
            known = script.get_revision(current) is not None
        except Exception:  # noqa: BLE001 - alembic raises several types for an unknown id
            known = False
        if not known:
            return None
    upgrade(engine)
    return current or "empty"
