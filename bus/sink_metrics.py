"""Prometheus metrics of ``floorwatch sink`` (served by :func:`floorwatch.metrics.serve_metrics`).

Names (prefix ``floorwatch_sink_``): ``messages_consumed_total`` and ``messages_committed_total``
(by topic; committed = Kafka offset committed after the database commit), ``events_stored_total``,
``dead_letters_total``, ``batch_seconds`` (histogram: store one polled batch in the database),
``consumer_lag`` (by topic and partition: the partition's high-water mark minus the group's committed
offset, i.e. messages not yet stored; Kafka's standard definition of consumer lag).
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from floorwatch.bus.base import BusMessage
from floorwatch.metrics import NAMESPACE, process_registry

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Highwater = Callable[[str, int], int | None]


class SinkMetrics:
    """Counters of one sink process.

    Args:
        registry: where the metrics go (default: a new registry with the process collector).
    """

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry = process_registry(registry)
        kw: dict[str, Any] = {"namespace": NAMESPACE, "subsystem": "sink", "registry": registry}
        self.consumed = Counter("messages_consumed", "Messages polled from Kafka", ["topic"], **kw)
        self.committed = Counter(
            "messages_committed", "Messages whose offsets were committed (after the DB commit)", ["topic"], **kw
        )
        self.stored = Counter("events_stored", "Valid events written to the database", **kw)
        self.dead = Counter("dead_letters", "Malformed or refused messages written to dead_letters", **kw)
        self.batch = Histogram("batch_seconds", "Storing one batch in the database, seconds",
                               buckets=BATCH_BUCKETS, **kw)
        self.lag = Gauge("consumer_lag", "High-water mark minus committed offset, messages",
                         ["topic", "partition"], **kw)
        self._committed_at: dict[tuple[str, int], int] = {}

    def stored_batch(self, messages: Sequence[BusMessage], events: int, dead: int, seconds: float) -> None:
        """Count one batch written to the database (before its offsets are committed)."""
        for topic, n in Tally(m.topic for m in messages).items():
            self.consumed.labels(topic).inc(n)
        self.dead.inc(dead)
        self.stored.inc(events)
        self.batch.observe(seconds)

    def committed_batch(self, messages: Sequence[BusMessage], highwater: Highwater) -> None:
        """Count committed offsets and refresh the lag of every partition seen so far.

        ``highwater(topic, partition)`` is the consumer's last known high-water mark (None = unknown).
        """
        for topic, n in Tally(m.topic for m in messages).items():
            self.committed.labels(topic).inc(n)
        for m in messages:
            key = (m.topic, m.partition)
            self._committed_at[key] = max(self._committed_at.get(key, 0), m.offset + 1)
        for (topic, partition), committed in self._committed_at.items():
            hw = highwater(topic, partition)
            if hw is not None:
                self.lag.labels(topic, str(partition)).set(max(0, hw - committed))
