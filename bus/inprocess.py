"""The embedded default bus: ``publish`` hands each event to the registered handlers, synchronously.

Used when ``bus.kind: inprocess`` (one process does vision and storage). :func:`database_handler`
is the in-process sink: each published event is written to the database in its own transaction,
with the same idempotent :func:`~floorwatch.storage.events_writer.apply_events` as the Kafka sink.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from floorwatch.bus.base import BusError, stamp_published
from floorwatch.schemas.events import BusEvent

log = logging.getLogger(__name__)

EventHandler = Callable[[Sequence[BusEvent]], None]


class InProcessBus:
    """Thread-safe synchronous bus: one lock serialises delivery so handlers see events in publish order."""

    def __init__(self, handlers: Sequence[EventHandler] = ()) -> None:
        self._handlers: list[EventHandler] = list(handlers)
        self._lock = threading.RLock()
        self._closed = False
        self.published = 0

    def subscribe(self, handler: EventHandler) -> None:
        """Register a handler; it receives every event published afterwards (as a one-element batch)."""
        with self._lock:
            self._handlers.append(handler)

    def publish(self, event: BusEvent) -> None:
        """Deliver ``event`` to every handler before returning.

        Raises:
            BusError: the bus is closed, or a handler failed (the event is then not stored by that handler;
                the caller decides whether to retry, as with a Kafka send error).
        """
        event = stamp_published(event)
        with self._lock:
            if self._closed:
                raise BusError("in-process bus is closed")
            for handler in self._handlers:
                try:
                    handler([event])
                except Exception as exc:
                    raise BusError(
                        f"in-process handler {handler!r} failed on event {event.event_id!r}: {exc}"
                    ) from exc
            self.published += 1

    def flush(self, timeout: float | None = None) -> None:
        """Nothing is buffered: delivery happens inside :meth:`publish`."""

    def close(self) -> None:
        with self._lock:
            self._closed = True


def database_handler(factory: sessionmaker[Session]) -> EventHandler:
    """A handler that stores each batch of events in one transaction (the in-process sink)."""
    from floorwatch.storage.db import session_scope
    from floorwatch.storage.events_writer import apply_events

    def _store(events: Sequence[BusEvent]) -> None:
        with session_scope(factory) as session:
            apply_events(session, events)

    return _store
