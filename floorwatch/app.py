"""The composition root: the one place that builds the database, the event bus and the event publisher.

Everything that needs a database session factory, a bus or somewhere to publish events (CLI, flows, the
dashboard, the vision service, benchmarks) gets it here; ``bus/`` and ``storage/`` never import this module.

Words: the *bus* carries events (:class:`~floorwatch.bus.base.EventBus`); the *sink* stores events from the
bus in the database (:func:`~floorwatch.bus.inprocess.database_handler` in process,
:func:`~floorwatch.bus.sink.run_sink` from Kafka); a producer publishes through an :class:`EventPublisher`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.bus.base import EventBus
from floorwatch.config import Settings
from floorwatch.schemas.events import BusEvent
from floorwatch.storage.db import make_engine, session_factory

log = logging.getLogger(__name__)

EventHook = Callable[[BusEvent], None]


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
    from floorwatch.storage.migrate import (  # Alembic loads only when a database is opened
        ensure_current,
        upgrade_embedded,
    )

    engine = make_engine(settings.database.url, echo=settings.database.echo)
    if check:
        try:
            upgrade_embedded(engine)  # the embedded SQLite database is created and migrated on first use
            ensure_current(engine)
        except BaseException:
            engine.dispose()
            raise
    return session_factory(engine)


def prepare_database(settings: Settings) -> sessionmaker[Session]:
    """Open the configured database for writing events, creating the embedded SQLite file on first use.

    A SQLite file that does not exist yet is created and migrated to head; any existing database (SQLite
    file or PostgreSQL) must already be current.

    Raises:
        SchemaOutdatedError: the existing database is empty or outdated (run ``floorwatch db upgrade``).
    """
    url = make_url(settings.database.url)
    file_db = url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:"
    if file_db and not Path(str(url.database)).exists():
        from floorwatch.storage.migrate import upgrade

        engine = make_engine(settings.database.url)
        try:
            upgrade(engine)
            log.info("created database %s", url.render_as_string(hide_password=True))
        finally:
            engine.dispose()
    return open_database(settings, check=True)


def make_bus(settings: Settings, factory: sessionmaker[Session] | None = None) -> EventBus:
    """The bus named by ``settings.bus.kind``.

    Args:
        settings: validated configuration.
        factory: for ``inprocess``, the database the in-process sink writes to; ``None`` opens
            ``settings.database`` (schema checked).

    Returns:
        An :class:`~floorwatch.bus.inprocess.InProcessBus` wired to the database, or a
        :class:`~floorwatch.bus.kafka.KafkaBus` (imported lazily; connects on the first publish).
    """
    if settings.bus.kind == "kafka":
        from floorwatch.bus.kafka import KafkaBus

        return KafkaBus(settings.bus)
    from floorwatch.bus.inprocess import InProcessBus, database_handler

    return InProcessBus([database_handler(factory if factory is not None else open_database(settings))])


@dataclass
class EventPublisher:
    """Where a producer's events go: the configured bus (and the database through it), plus an optional hook."""

    publish: EventHook
    close: Callable[[], None]


def open_publisher(settings: Settings, store: bool = True, on_event: EventHook | None = None) -> EventPublisher:
    """The event publisher of a run (vision replay/watch/monitor, benchmarks).

    Args:
        settings: bus and database settings; an in-process bus creates the embedded SQLite database on first
            use (:func:`prepare_database`).
        store: False = no bus and no database (``--no-db``): events only reach ``on_event``.
        on_event: called with every published event (e.g. print JSON lines).

    Raises:
        SchemaOutdatedError: the database exists but is not current.
    """
    if not store:
        return EventPublisher(publish=on_event or (lambda _e: None), close=lambda: None)
    factory = prepare_database(settings) if settings.bus.kind == "inprocess" else None
    bus = make_bus(settings, factory)

    def publish(event: BusEvent) -> None:
        bus.publish(event)
        if on_event is not None:
            on_event(event)

    def close() -> None:
        try:
            bus.flush()
        finally:
            bus.close()

    return EventPublisher(publish=publish, close=close)
