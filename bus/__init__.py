"""Event bus: the ``EventBus`` protocol, the in-process default, Kafka, and the Kafka -> database sink.

The configured bus is built in one place, :func:`floorwatch.app.make_bus`.

Kafka and the sink load lazily so importing ``floorwatch.bus`` does not pull in kafka-python.
"""

from __future__ import annotations

from typing import Any

from floorwatch.bus.base import BusError, BusMessage, EventBus, EventConsumer, all_topics, topic_for
from floorwatch.bus.inprocess import InProcessBus, database_handler

__all__ = [
    "BusError",
    "BusMessage",
    "EventBus",
    "EventConsumer",
    "InProcessBus",
    "KafkaBus",
    "KafkaEventConsumer",
    "all_topics",
    "database_handler",
    "run_sink",
    "topic_for",
]

_LAZY = {
    "KafkaBus": "floorwatch.bus.kafka",
    "KafkaEventConsumer": "floorwatch.bus.kafka",
    "run_sink": "floorwatch.bus.sink",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'floorwatch.bus' has no attribute {name!r}")
