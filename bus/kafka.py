"""Kafka event bus (kafka-python 3.0): a durable producer and an at-least-once batch consumer.

Producer: ``acks="all"``, idempotent (the broker drops retried duplicates), unlimited retries with
backoff bounded by ``delivery_timeout_ms``, so a broker restart during publishing loses nothing as long
as it is back within that time. Key = :func:`~floorwatch.schemas.events.event_key`, so events of one
camera (alerts, outages) or zone (anomalies) stay in order on one partition.

Consumer: manual commits; the handler gets a batch and the offsets are committed only after it
returns. Every message is validated with :func:`~floorwatch.schemas.events.parse_event` here and
handed over with either its event or the reason it is invalid (the sink dead-letters those).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata, TopicPartition
from pydantic import ValidationError

from floorwatch.bus.base import (
    BatchHandler,
    BusError,
    BusMessage,
    all_topics,
    stamp_published,
    topic_for,
)
from floorwatch.config import BusConfig
from floorwatch.schemas.events import TOPIC_SUFFIX, BusEvent, event_key, parse_event

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3


def ensure_topics(
    config: BusConfig, partitions: int = DEFAULT_PARTITIONS, timeout_s: float = 30.0
) -> list[str]:
    """Create the missing ``<prefix>.alerts|outages|anomalies`` topics; returns those created.

    Raises:
        BusError: the broker is unreachable or refuses to create a topic.
    """
    wanted = all_topics(config.topic_prefix)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=config.bootstrap_servers,
            client_id="floorwatch-admin",
            request_timeout_ms=config.request_timeout_ms,
            bootstrap_timeout_ms=config.request_timeout_ms,
        )
    except KafkaError as exc:
        raise BusError(f"Kafka at {config.bootstrap_servers} unreachable: {exc}") from exc
    try:
        missing = [t for t in wanted if t not in set(admin.list_topics())]
        if missing:
            # Another process may create one of them meanwhile: that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [NewTopic(t, partitions, 1) for t in missing], timeout_ms=int(timeout_s * 1000)
                )
            admin.wait_for_topics(missing, timeout_ms=int(timeout_s * 1000))
            log.info("created Kafka topics %s on %s", missing, config.bootstrap_servers)
        return missing
    except KafkaError as exc:
        raise BusError(f"cannot create topics {wanted} on {config.bootstrap_servers}: {exc}") from exc
    finally:
        admin.close()


class KafkaBus:
    """Publishes events to ``<prefix>.<kind>`` topics; see the module docstring for the guarantees."""

    def __init__(
        self,
        config: BusConfig,
        *,
        client_id: str = "floorwatch",
        linger_ms: int = 5,
        delivery_timeout_ms: int = 120_000,
        create_topics: bool = True,
    ) -> None:
        self.config = config
        self._client_id = client_id
        self._linger_ms = linger_ms
        self._delivery_timeout_ms = max(delivery_timeout_ms, config.request_timeout_ms + linger_ms)
        self._create_topics = create_topics
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()
        self._failures: list[str] = []
        self.published = 0

    def _get_producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                if self._create_topics:
                    ensure_topics(self.config)
                try:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self.config.bootstrap_servers,
                        client_id=self._client_id,
                        acks="all",
                        enable_idempotence=True,
                        retries=2**31 - 1,  # bounded by delivery_timeout_ms instead
                        retry_backoff_ms=200,
                        reconnect_backoff_ms=100,
                        reconnect_backoff_max_ms=2_000,
                        max_in_flight_requests_per_connection=5,
                        delivery_timeout_ms=self._delivery_timeout_ms,
                        request_timeout_ms=self.config.request_timeout_ms,
                        bootstrap_timeout_ms=self.config.request_timeout_ms,
                        linger_ms=self._linger_ms,
                        max_block_ms=60_000,
                    )
                except KafkaError as exc:
                    raise BusError(f"Kafka at {self.config.bootstrap_servers} unreachable: {exc}") from exc
            return self._producer

    def publish(self, event: BusEvent) -> None:
        """Queue one event for delivery (returns at once; :meth:`flush` waits and reports failures).

        Raises:
            BusError: the producer cannot be created, or its buffer stayed full for ``max_block_ms``.
        """
        producer = self._get_producer()
        event = stamp_published(event)
        topic = topic_for(self.config.topic_prefix, event)
        try:
            future = producer.send(
                topic, key=event_key(event).encode(), value=event.model_dump_json().encode()
            )
        except KafkaError as exc:
            raise BusError(f"cannot queue event {event.event_id!r} for {topic}: {exc}") from exc
        future.add_errback(self._record_failure, event.event_id, topic)
        self.published += 1

    def _record_failure(self, exc: BaseException, event_id: str, topic: str) -> None:
        log.error("event %s not delivered to %s: %s", event_id, topic, exc)
        with self._lock:
            self._failures.append(f"{event_id} -> {topic}: {exc}")

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every queued event is acknowledged by the broker.

        Raises:
            BusError: some events were not delivered (their ids are listed) or the wait timed out.
        """
        if self._producer is None:
            return
        try:
            self._producer.flush(timeout=timeout)
        except KafkaError as exc:
            raise BusError(f"flush to {self.config.bootstrap_servers} did not finish: {exc}") from exc
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            shown = "; ".join(failures[:5])
            raise BusError(
                f"{len(failures)} event(s) not delivered to {self.config.bootstrap_servers}: {shown}"
            )

    def close(self) -> None:
        """Flush, then close the producer."""
        if self._producer is None:
            return
        try:
            self.flush()
        finally:
            self._producer.close()
            self._producer = None


def decode_message(topic: str, value: bytes | None, prefix: str) -> tuple[BusEvent | None, str | None]:
    """Validate one message: ``(event, None)`` or ``(None, reason)``; never raises."""
    if value is None:
        return None, "empty message (tombstone)"
    try:
        event = parse_event(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return None, f"invalid event: {problems}"
    expected = f"{prefix}.{TOPIC_SUFFIX[event.kind]}"
    if topic != expected:
        return None, f"{event.kind} event {event.event_id!r} on topic {topic!r} (belongs on {expected!r})"
    return event, None


class KafkaEventConsumer:
    """Consumes the three event topics in the sink's consumer group; commits after each handled batch."""

    def __init__(
        self,
        config: BusConfig,
        *,
        client_id: str = "floorwatch-sink",
        session_timeout_ms: int = 10_000,
        create_topics: bool = True,
    ) -> None:
        self.config = config
        if create_topics:
            ensure_topics(config)
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=config.bootstrap_servers,
                group_id=config.group_id,
                client_id=client_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=session_timeout_ms,
                heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
                request_timeout_ms=max(config.request_timeout_ms, session_timeout_ms + 5000),
                bootstrap_timeout_ms=config.request_timeout_ms,
                retry_backoff_ms=200,
                reconnect_backoff_max_ms=2_000,
                max_poll_interval_ms=300_000,
            )
        except KafkaError as exc:
            raise BusError(f"Kafka at {config.bootstrap_servers} unreachable: {exc}") from exc
        self._consumer.subscribe(all_topics(config.topic_prefix))

    def _poll(self, timeout: float, limit: int) -> list[BusMessage]:
        records: dict[Any, Any] = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=limit)
        out: list[BusMessage] = []
        for batch in records.values():
            for r in batch:
                event, error = decode_message(r.topic, r.value, self.config.topic_prefix)
                out.append(BusMessage(r.topic, r.partition, r.offset, r.key, r.value or b"", event, error))
        return out

    def highwater(self, topic: str, partition: int) -> int | None:
        """Last known high-water mark of a partition (offset of the next message produced), None if unknown."""
        return self._consumer.highwater(TopicPartition(topic, partition))  # type: ignore[no-any-return]

    def _commit(self, messages: Sequence[BusMessage]) -> bool:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            if tp not in offsets or offsets[tp].offset <= m.offset:
                offsets[tp] = OffsetAndMetadata(m.offset + 1, "", -1)
        try:
            self._consumer.commit(offsets=offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group rebalanced under us: the batch is redelivered, and storing it again is a no-op.
            log.warning("offset commit failed (%s); %d message(s) will be redelivered", exc, len(messages))
            return False
        return True

    def consume(
        self,
        handler: BatchHandler,
        stop_event: threading.Event,
        batch_size: int = 500,
        poll_timeout: float = 1.0,
        *,
        max_messages: int | None = None,
        idle_exit: float | None = None,
        on_committed: BatchHandler | None = None,
    ) -> int:
        """Poll batches into ``handler`` until stopped; offsets are committed after the handler returns.

        Args:
            handler: called with each non-empty batch; an exception propagates and nothing of the batch
                is committed (so it is redelivered).
            stop_event: set it (e.g. from a SIGTERM handler) to finish the current batch and return.
            batch_size: most messages per batch.
            poll_timeout: seconds one poll waits for messages.
            max_messages: return after this many messages (None = no limit).
            idle_exit: return after this many seconds without a message once partitions are assigned.
            on_committed: called with each batch whose offsets were committed (metrics).

        Returns:
            The number of messages handled and committed.
        """
        handled = 0
        idle_since: float | None = None
        while not stop_event.is_set():
            limit = batch_size if max_messages is None else min(batch_size, max_messages - handled)
            if limit <= 0:
                break
            messages = self._poll(poll_timeout, limit)
            if not messages:
                if idle_since is None and self._consumer.assignment():
                    idle_since = time.monotonic()
                if (
                    idle_exit is not None
                    and idle_since is not None
                    and time.monotonic() - idle_since >= idle_exit
                ):
                    break
                continue
            handler(messages)
            if self._commit(messages) and on_committed is not None:
                on_committed(messages)
            handled += len(messages)
            idle_since = time.monotonic()
        return handled

    def close(self) -> None:
        """Leave the group (partitions move to other sinks at once) and close the connections."""
        self._consumer.close(autocommit=False)
