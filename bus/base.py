"""The event bus contract shared by the in-process bus and Kafka.

Producers call :meth:`EventBus.publish` with the pydantic events of ``floorwatch.schemas.events``;
consumers call ``consume(handler, stop_event, batch_size, poll_timeout)``: the handler gets a batch of
:class:`BusMessage` and the positions are committed only after it returns, so a crash in the handler
means redelivery, never loss.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from floorwatch.schemas.events import TOPIC_SUFFIX, AlertEvent, BusEvent


class BusError(RuntimeError):
    """The bus could not deliver (or receive) events; the message names the broker/topic and the cause."""


@dataclass(frozen=True)
class BusMessage:
    """One consumed message: its position, raw bytes, and the validated event or the reason it is invalid."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    event: BusEvent | None
    error: str | None = None


BatchHandler = Callable[[Sequence[BusMessage]], None]


@runtime_checkable
class EventBus(Protocol):
    """What the vision pipeline, the LLM jobs and the sink need from a bus."""

    def publish(self, event: BusEvent) -> None:
        """Hand one event to the bus (may buffer; see :meth:`flush`)."""

    def flush(self, timeout: float | None = None) -> None:
        """Block until every published event is delivered; raise :class:`BusError` if any was not."""

    def close(self) -> None:
        """Flush and release connections; the bus cannot be used afterwards."""


class EventConsumer(Protocol):
    """The consuming side: at-least-once batches, positions committed after the handler returns."""

    def consume(
        self,
        handler: BatchHandler,
        stop_event: threading.Event,
        batch_size: int = 500,
        poll_timeout: float = 1.0,
    ) -> int:
        """Run until ``stop_event`` is set; returns the number of messages handled."""


def topic_for(prefix: str, event: BusEvent) -> str:
    """Topic of an event: ``<prefix>.alerts|outages|anomalies``."""
    return f"{prefix}.{TOPIC_SUFFIX[event.kind]}"


def all_topics(prefix: str) -> list[str]:
    """The three topics under ``prefix``."""
    return [f"{prefix}.{suffix}" for suffix in TOPIC_SUFFIX.values()]


def stamp_published(event: BusEvent, now: datetime | None = None) -> BusEvent:
    """Fill ``latency.published_at`` (wall time handed to the bus) when the event carries latency stamps."""
    if isinstance(event, AlertEvent) and event.latency is not None and event.latency.published_at is None:
        latency = event.latency.model_copy(update={"published_at": now or datetime.now(UTC)})
        return event.model_copy(update={"latency": latency})
    return event
