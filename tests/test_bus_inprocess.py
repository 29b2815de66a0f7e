"""The in-process bus: synchronous, ordered, thread-safe delivery into the database; make_bus picks the kind."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.app import make_bus
from floorwatch.bus import BusError, EventBus, InProcessBus, database_handler
from floorwatch.config import BusConfig, Settings
from floorwatch.schemas.tables import Alert
from tests.fixtures_events import alert, lifecycle, with_latency


def test_publish_writes_through_to_the_database(migrated_db: sessionmaker[Session]) -> None:
    bus: EventBus = InProcessBus([database_handler(migrated_db)])  # conforms statically (mypy)
    for ev in lifecycle("a1", updates=2):
        bus.publish(ev)
    bus.flush()
    with migrated_db() as s:
        row = s.get(Alert, "a1")
        assert row is not None and (row.status, row.updates) == ("closed", 2)


def test_publish_stamps_published_at() -> None:
    seen: list = []
    bus = InProcessBus([seen.extend])
    bus.publish(with_latency(alert("a1")))
    bus.publish(alert("a2"))  # no latency stamps: left alone
    assert (
        seen[0].latency.published_at is not None
        and seen[0].latency.published_at >= seen[0].latency.inferred_at
    )
    assert seen[1].latency is None


def test_concurrent_publishers_keep_per_thread_order(migrated_db: sessionmaker[Session]) -> None:
    seen: list = []
    bus = InProcessBus([seen.extend, database_handler(migrated_db)])

    def camera(cam: int) -> None:
        for i in range(25):
            for ev in lifecycle(f"c{cam}-{i}", updates=1, camera_id=f"cam-{cam}"):
                bus.publish(ev)

    threads = [threading.Thread(target=camera, args=(c,)) for c in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 * 25 * 3 and bus.published == 300
    for cam in range(4):
        mine = [e.alert_id for e in seen if e.camera_id == f"cam-{cam}"]
        assert mine == [f"c{cam}-{i}" for i in range(25) for _ in range(3)]
    with migrated_db() as s:
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.status == "closed")) == 100


def test_failing_handler_raises_bus_error_naming_the_event() -> None:
    def broken(_events: object) -> None:
        raise RuntimeError("disk full")

    bus = InProcessBus([broken])
    with pytest.raises(BusError, match=r"a1:started:0.*disk full"):
        bus.publish(alert("a1"))


def test_closed_bus_refuses_publish() -> None:
    bus = InProcessBus()
    bus.close()
    with pytest.raises(BusError, match="closed"):
        bus.publish(alert("a1"))


def test_make_bus_picks_the_configured_kind(migrated_db: sessionmaker[Session]) -> None:
    from floorwatch.bus.kafka import KafkaBus

    assert isinstance(make_bus(Settings(), factory=migrated_db), InProcessBus)
    kafka = make_bus(Settings(bus=BusConfig(kind="kafka", bootstrap_servers="127.0.0.1:1")))
    assert isinstance(kafka, KafkaBus)  # connects lazily: nothing happens until the first publish
    kafka.close()
