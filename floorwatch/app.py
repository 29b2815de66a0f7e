"""Wiring shared by the CLI, flows and the dashboard: the database and the event bus from ``Settings``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import Settings
from floorwatch.storage.db import make_engine, session_factory
from floorwatch.storage.migrate import ensure_current, upgrade_embedded

if TYPE_CHECKING:
    from floorwatch.bus import EventBus


def open_database(settings: Settings, check: bool = True) -> sessionmaker[Session]:
    """Engine + sessionmaker for ``settings.database``.

    Args:
        settings: validated configuration.
        check: refuse a database whose schema is not at this code's migration head.

    Raises:
        SchemaOutdatedError: ``check`` and a PostgreSQL schema is empty or outdated, or a SQLite one is at
            a revision this code does not know (run ``floorwatch db upgrade``). An empty or older
            SQLite database is migrated here.
    """
    engine = make_engine(settings.database.url, echo=settings.database.echo)
    if check:
        try:
            upgrade_embedded(engine)  # the embedded SQLite database is created and migrated on first use
            ensure_current(engine)
        except BaseException:
            engine.dispose()
            raise
    return session_factory(engine)


def make_bus(settings: Settings) -> EventBus:
    """The event bus named by ``settings.bus`` (imported lazily: Kafka clients load only when used)."""
    from floorwatch.bus.factory import make_bus as _mk

    return _mk(settings)
