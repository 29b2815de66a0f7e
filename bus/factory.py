"""Pick the event bus named by ``settings.bus.kind``."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from floorwatch.bus.base import EventBus
from floorwatch.config import Settings


def make_bus(settings: Settings, factory: sessionmaker[Session] | None = None) -> EventBus:
    """The configured bus.

    Args:
        settings: validated configuration; ``settings.bus.kind`` picks the implementation.
        factory: for ``inprocess``, the database the events are written to (the in-process sink);
            ``None`` opens ``settings.database`` (schema checked).

    Returns:
        An :class:`~floorwatch.bus.inprocess.InProcessBus` wired to the database, or a
        :class:`~floorwatch.bus.kafka.KafkaBus` (connects on the first publish).
    """
    if settings.bus.kind == "kafka":
        from floorwatch.bus.kafka import KafkaBus

        return KafkaBus(settings.bus)
    from floorwatch.bus.inprocess import InProcessBus, database_handler

    if factory is None:
        from floorwatch.app import open_database

        factory = open_database(settings)
    return InProcessBus([database_handler(factory)])
