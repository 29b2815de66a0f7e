"""The sink: Kafka's three event topics -> the shared database, exactly once in effect.

For each polled batch: valid events go through :func:`~floorwatch.storage.events_writer.apply_events`
and malformed messages into ``dead_letters`` (unique on topic/partition/offset) in ONE transaction;
the database commits, THEN the Kafka offsets. A crash between the two redelivers the batch, and
storing it again changes nothing. A malformed message never stops the sink.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

from floorwatch.bus.base import BusMessage
from floorwatch.bus.sink_metrics import SinkMetrics
from floorwatch.config import BusConfig
from floorwatch.schemas.tables import DeadLetter
from floorwatch.storage.db import session_scope
from floorwatch.storage.events_writer import EventDataError, apply_events, check_event
from floorwatch.storage.upsert import upsert

log = logging.getLogger(__name__)

DB_RETRIES = 5
DB_RETRY_BACKOFF_S = 1.0


@dataclass
class SinkStats:
    """What a sink run did."""

    messages: int = 0
    events: int = 0
    dead_letters: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)
    first_batch_at: float | None = None
    last_batch_at: float | None = None

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Messages per second since the start (includes joining the group and idle polls)."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    @property
    def busy_rate(self) -> float:
        """Messages per second from the first polled batch to the end of the last one."""
        if (
            self.first_batch_at is None
            or self.last_batch_at is None
            or self.last_batch_at <= self.first_batch_at
        ):
            return 0.0
        return self.messages / (self.last_batch_at - self.first_batch_at)


def _dead_letter_row(m: BusMessage, reason: str) -> dict[str, Any]:
    # PostgreSQL text cannot hold NUL; keep the rest of the payload as it came for inspection.
    payload = m.value.decode("utf-8", errors="replace").replace("\x00", "\\x00")
    key = (
        m.key.decode("utf-8", errors="replace").replace("\x00", "\\x00")[:200] if m.key is not None else None
    )
    return {
        "topic": m.topic,
        "partition": m.partition,
        "offset": m.offset,
        "key": key,
        "payload": payload,
        "reason": reason[:4000],
    }


def _split(messages: Sequence[BusMessage]) -> tuple[list[BusMessage], list[dict[str, Any]]]:
    """Valid messages, and dead-letter rows for the rest (schema errors, naive timestamps)."""
    good: list[BusMessage] = []
    dead: list[dict[str, Any]] = []
    for m in messages:
        if m.event is None:
            dead.append(_dead_letter_row(m, m.error or "invalid message"))
            continue
        try:
            check_event(m.event)
        except EventDataError as exc:
            dead.append(_dead_letter_row(m, str(exc)))
            continue
        good.append(m)
    return good, dead


def _store(factory: sessionmaker[Session], good: Sequence[BusMessage], dead: list[dict[str, Any]]) -> None:
    with session_scope(factory) as session:
        apply_events(session, [m.event for m in good if m.event is not None])
        upsert(session, DeadLetter, dead, key=["topic", "partition", "offset"])


def _log_db_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    orig = getattr(exc, "orig", None) or exc
    log.warning("database unavailable (%s); retry %d/%d", orig, state.attempt_number, DB_RETRIES - 1)


def store_batch(factory: sessionmaker[Session], messages: Sequence[BusMessage]) -> tuple[int, int]:
    """Store one batch in one transaction; returns ``(events stored, dead letters)``.

    A batch the database rejects for data reasons (constraint, value too long) is retried message by
    message, and each message it still rejects becomes a dead letter with the database's reason.
    Connection problems (``OperationalError``) are retried ``DB_RETRIES - 1`` times, waiting
    ``DB_RETRY_BACKOFF_S`` x attempt (tenacity), and then raised (nothing committed: redelivery).
    """
    good, dead = _split(messages)
    store = Retrying(
        retry=retry_if_exception_type(OperationalError),
        stop=stop_after_attempt(DB_RETRIES),
        wait=wait_incrementing(start=DB_RETRY_BACKOFF_S, increment=DB_RETRY_BACKOFF_S),
        before_sleep=_log_db_retry,
        reraise=True,
    )
    try:
        store(_store, factory, good, dead)
    except OperationalError:
        raise
    except DBAPIError as exc:
        log.warning(
            "database rejected a batch of %d (%s); storing one by one", len(messages), exc.orig or exc
        )
        return _store_one_by_one(factory, good, dead)
    return len(good), len(dead)


def _store_one_by_one(
    factory: sessionmaker[Session], good: Sequence[BusMessage], dead: list[dict[str, Any]]
) -> tuple[int, int]:
    stored = 0
    for m in good:
        try:
            _store(factory, [m], [])
            stored += 1
        except OperationalError:
            raise
        except DBAPIError as exc:
            dead.append(_dead_letter_row(m, f"database rejected the event: {exc.orig or exc}"))
    _store(factory, [], dead)
    return stored, len(dead)


def run_sink(
    config: BusConfig,
    factory: sessionmaker[Session],
    stop_event: threading.Event | None = None,
    *,
    max_messages: int | None = None,
    idle_exit: float | None = None,
    batch_size: int = 1000,
    poll_timeout: float = 0.5,
    log_every_s: float = 10.0,
    metrics: SinkMetrics | None = None,
) -> SinkStats:
    """Consume the event topics into the database until stopped, idle or ``max_messages`` are handled.

    Args:
        config: ``settings.bus`` (bootstrap servers, topic prefix, consumer group).
        factory: sessionmaker of the shared database (migrated).
        stop_event: set it to stop after the current batch (the CLI sets it on SIGTERM/SIGINT).
        max_messages: stop after this many messages.
        idle_exit: stop after this many seconds without messages.
        batch_size: most messages per transaction.
        poll_timeout: seconds one poll waits.
        log_every_s: seconds between throughput log lines.
        metrics: Prometheus counters to update (``floorwatch sink --metrics-port``).

    Returns:
        Counts of the run.
    """
    from floorwatch.bus.kafka import KafkaEventConsumer

    stop_event = stop_event or threading.Event()
    stats = SinkStats()
    last_log = time.monotonic()

    def handle(messages: Sequence[BusMessage]) -> None:
        nonlocal last_log
        if stats.first_batch_at is None:
            # Polling the first batch took about as long as the others; count it from its own start.
            stats.first_batch_at = time.monotonic()
        t_store = time.monotonic()
        events, dead = store_batch(factory, messages)
        if metrics is not None:
            metrics.stored_batch(messages, events, dead, time.monotonic() - t_store)
        stats.messages += len(messages)
        stats.events += events
        stats.dead_letters += dead
        stats.batches += 1
        stats.last_batch_at = time.monotonic()
        for m in messages:
            if m.event is None:
                log.warning("dead letter %s[%d]@%d: %s", m.topic, m.partition, m.offset, m.error)
        if time.monotonic() - last_log >= log_every_s:
            last_log = time.monotonic()
            log.info(
                "sink: %d messages (%.0f/s), %d dead letters", stats.messages, stats.rate, stats.dead_letters
            )

    consumer = KafkaEventConsumer(config)
    try:
        on_committed = (
            (lambda ms: metrics.committed_batch(ms, consumer.highwater)) if metrics is not None else None
        )
        consumer.consume(
            handle, stop_event, batch_size, poll_timeout, max_messages=max_messages, idle_exit=idle_exit,
            on_committed=on_committed,
        )
    finally:
        consumer.close()
    log.info(
        "sink done: %d messages in %.1f s (%.0f/s), %d events stored, %d dead letters",
        stats.messages, stats.seconds, stats.rate, stats.events, stats.dead_letters,
    )  # fmt: skip
    return stats
