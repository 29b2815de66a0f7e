"""The sink's database retries (tenacity): a connection problem is retried with backoff, then raised;
a data problem falls back to storing message by message."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.bus import sink
from floorwatch.bus.base import BusMessage
from floorwatch.schemas.tables import Alert
from tests.fixtures_events import alert


def _messages(n: int) -> list[BusMessage]:
    events = [alert(f"r{i}") for i in range(n)]
    return [
        BusMessage(topic="fw.alerts", partition=0, offset=i, key=None, value=e.model_dump_json().encode(), event=e)
        for i, e in enumerate(events)
    ]


def _failing_first(times: int, exc: Exception, calls: list[int]) -> Any:
    real = sink._store

    def store(*args: Any) -> None:
        calls.append(1)
        if len(calls) <= times:
            raise exc
        real(*args)

    return store


def test_connection_errors_are_retried_then_the_batch_is_stored(
    migrated_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    down = OperationalError("INSERT", {}, Exception("server closed the connection"))
    monkeypatch.setattr(sink, "_store", _failing_first(2, down, calls))
    monkeypatch.setattr(sink, "DB_RETRY_BACKOFF_S", 0.01)
    assert sink.store_batch(migrated_db, _messages(3)) == (3, 0)
    assert len(calls) == 3
    with migrated_db() as s:
        assert len(s.scalars(select(Alert.id)).all()) == 3


def test_connection_errors_past_the_retries_are_raised(
    migrated_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    down = OperationalError("INSERT", {}, Exception("server closed the connection"))
    monkeypatch.setattr(sink, "_store", _failing_first(99, down, calls))
    monkeypatch.setattr(sink, "DB_RETRY_BACKOFF_S", 0.01)
    with pytest.raises(OperationalError):
        sink.store_batch(migrated_db, _messages(2))
    assert len(calls) == sink.DB_RETRIES


def test_a_rejected_batch_is_stored_one_by_one(
    migrated_db: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    rejected = IntegrityError("INSERT", {}, Exception("value too long"))
    monkeypatch.setattr(sink, "_store", _failing_first(1, rejected, calls))
    assert sink.store_batch(migrated_db, _messages(2)) == (2, 0)
    assert len(calls) >= 2  # the whole batch once, then message by message
