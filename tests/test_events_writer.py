"""apply_events: alert lifecycle, outages, anomalies; redelivery and out-of-order delivery are no-ops.

Runs on SQLite and a real PostgreSQL (``migrated_db`` is parametrized over both).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.schemas.tables import Alert, Camera, CameraOutage, SensorAnomaly, Zone
from floorwatch.storage.db import session_scope
from floorwatch.storage.events_writer import EventDataError, apply_events
from tests.fixtures_events import T0, alert, anomaly, lifecycle, outage, with_latency


def _apply(factory: sessionmaker[Session], events: list) -> dict[str, int]:
    with session_scope(factory) as s:
        return apply_events(s, events)


def _alert(factory: sessionmaker[Session], alert_id: str) -> Alert:
    with factory() as s:
        row = s.get(Alert, alert_id)
        assert row is not None, f"alert {alert_id} not stored"
        return row


def test_lifecycle_creates_zone_camera_and_closed_alert(migrated_db: sessionmaker[Session]) -> None:
    events = lifecycle("a1", updates=3)
    events[0] = with_latency(events[0], captured_ms=-120)
    written = _apply(migrated_db, events)
    assert written == {"alerts": 1, "camera_outages": 0, "sensor_anomalies": 0}
    row = _alert(migrated_db, "a1")
    assert (row.status, row.updates, row.people) == ("closed", 3, 3)
    assert row.started_at == T0 and row.last_seen_at == T0 + timedelta(seconds=4)
    assert row.ended_at == T0 + timedelta(seconds=4) and (row.start_frame, row.end_frame) == (0, 40)
    assert row.captured_at == T0 - timedelta(milliseconds=120)
    assert row.inferred_at == T0 - timedelta(milliseconds=80)
    with migrated_db() as s:
        assert s.get(Zone, "press-1") is not None and s.get(Camera, "cam-1") is not None


def test_redelivery_of_every_event_is_a_no_op(migrated_db: sessionmaker[Session]) -> None:
    events = lifecycle("a1", updates=2) + [outage("o1"), outage("o1", ended=True), anomaly("n1")]
    _apply(migrated_db, events)
    before = _alert(migrated_db, "a1")
    assert _apply(migrated_db, events) == {"alerts": 0, "camera_outages": 0, "sensor_anomalies": 0}
    for ev in events:  # one by one, as a consumer restarting mid-batch would
        _apply(migrated_db, [ev])
    after = _alert(migrated_db, "a1")
    assert (after.updates, after.status, after.last_seen_at, after.ended_at) == (
        before.updates, before.status, before.last_seen_at, before.ended_at,
    )  # fmt: skip
    with migrated_db() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        assert s.scalar(select(func.count()).select_from(CameraOutage)) == 1


def test_ended_is_never_reopened_and_last_seen_never_moves_back(migrated_db: sessionmaker[Session]) -> None:
    started, up1, up2, ended = lifecycle("a1", updates=2)
    _apply(migrated_db, [started, up1, up2, ended])
    _apply(migrated_db, [started, up1])  # stale redelivery after the end
    row = _alert(migrated_db, "a1")
    assert row.status == "closed" and row.ended_at == ended.occurred_at
    assert row.last_seen_at == ended.occurred_at and row.updates == 2


@pytest.mark.parametrize("first", ["updated", "ended"])
def test_unknown_alert_is_created_by_a_later_phase(migrated_db: sessionmaker[Session], first: str) -> None:
    late = alert("a9", first, 5, people=4)
    _apply(migrated_db, [late])
    row = _alert(migrated_db, "a9")
    assert row.started_at == late.occurred_at
    assert row.status == ("closed" if first == "ended" else "open")
    # The start arrives afterwards (out of order): it moves started_at back and does not reopen.
    _apply(migrated_db, [alert("a9", "started", 1)])
    row = _alert(migrated_db, "a9")
    assert row.started_at == T0 + timedelta(seconds=1) and row.start_frame == 10
    assert row.status == ("closed" if first == "ended" else "open")
    assert row.last_seen_at == late.occurred_at


def test_stale_update_does_not_count_or_overwrite(migrated_db: sessionmaker[Session]) -> None:
    _apply(migrated_db, [alert("a1", "started", 0), alert("a1", "updated", 5, people=5, details={"n": 5})])
    _apply(migrated_db, [alert("a1", "updated", 3, people=3, details={"n": 3})])
    row = _alert(migrated_db, "a1")
    assert (row.updates, row.people, row.details) == (1, 5, {"n": 5})


def test_outage_end_fills_ended_at_and_a_late_start_does_not_clear_it(
    migrated_db: sessionmaker[Session],
) -> None:
    _apply(migrated_db, [outage("o1")])
    with migrated_db() as s:
        assert s.get(CameraOutage, "o1").ended_at is None
    _apply(migrated_db, [outage("o1", ended=True)])
    _apply(migrated_db, [outage("o1")])
    with migrated_db() as s:
        assert s.get(CameraOutage, "o1").ended_at == T0 + timedelta(minutes=3)


def test_anomaly_upsert_by_id(migrated_db: sessionmaker[Session]) -> None:
    _apply(migrated_db, [anomaly("n1", 3.0), anomaly("n2", 1.0)])
    _apply(migrated_db, [anomaly("n1", 5.5)])
    with migrated_db() as s:
        assert s.get(SensorAnomaly, "n1").score == 5.5
        assert s.get(SensorAnomaly, "n1").channels == ["temp_c", "pressure_bar"]
        assert s.scalar(select(func.count()).select_from(SensorAnomaly)) == 2


def test_naive_timestamp_is_refused_with_the_event_id_and_nothing_written(
    migrated_db: sessionmaker[Session],
) -> None:
    good = alert("ok", "started", 0)
    bad = alert("bad", "started", 0, occurred_at=T0.replace(tzinfo=None))
    with pytest.raises(EventDataError, match=r"'bad:started:0.*occurred_at.*no time zone"):
        _apply(migrated_db, [good, bad])
    with migrated_db() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 0


def test_large_batch_is_chunked(migrated_db: sessionmaker[Session]) -> None:
    events = [alert(f"a{i}", "started", 0, camera_id=f"cam-{i % 7}") for i in range(1000)]
    assert _apply(migrated_db, events)["alerts"] == 1000
    with migrated_db() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1000
        assert s.scalar(select(func.count()).select_from(Camera)) == 7
