"""Camera telemetry (pure counting), heartbeat rows upserted into a real migrated database (SQLite and
PostgreSQL through ``migrated_db``), and the dashboard's health API / page over them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import CameraConfig, MediaConfig, Settings
from floorwatch.review.app import create_app
from floorwatch.schemas.events import LatencyStamps
from floorwatch.schemas.tables import Camera, CameraHeartbeat, CameraOutage
from floorwatch.storage.db import session_scope
from floorwatch.vision.heartbeat import HeartbeatWriter, camera_state
from floorwatch.vision.telemetry import VisionTelemetry
from tests.fixtures_events import alert, outage

NOW = datetime.now(UTC).replace(microsecond=0)


def _pipeline(camera_id: str, read: int, processed: int, dropped: int, queued: int = 0, ended: bool = False):  # type: ignore[no-untyped-def]
    """The attributes of a VisionPipeline that telemetry reads (counters the pipeline keeps anyway)."""
    source = SimpleNamespace(stats=SimpleNamespace(frames_read=read, frames_dropped=dropped, reconnects=0),
                             _queue=[object()] * queued)  # fmt: skip
    stats = SimpleNamespace(frames=processed, elapsed_s=1.0 if ended else 0.0)
    return SimpleNamespace(camera=SimpleNamespace(id=camera_id), source=source, stats=stats)


def _samples(tel: VisionTelemetry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(tel.registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}  # fmt: skip


def _started(alert_id: str, latency_s: float, zone: str = "dock", camera: str = "cam-1"):  # type: ignore[no-untyped-def]
    ev = alert(alert_id, camera_id=camera, zone_id=zone)
    captured = NOW
    return ev.model_copy(update={"latency": LatencyStamps(
        captured_at=captured, inferred_at=captured, published_at=captured + timedelta(seconds=latency_s))})


def test_telemetry_counts_started_alerts_latency_and_outages() -> None:
    tel = VisionTelemetry()
    published: list[object] = []
    publish = tel.publisher(published.append)
    for i, lat in enumerate([0.1, 0.2, 0.3, 0.4, 2.0]):
        publish(_started(f"a{i}", lat))
    publish(alert("a0", "updated", 1.0))  # not a new alert
    publish(alert("a0", "ended", 2.0))
    publish(_started("b0", 0.5, zone="press"))
    publish(outage("o1", camera_id="cam-1"))
    tel.attach(_pipeline("cam-1", read=120, processed=100, dropped=20, queued=3))
    m = _samples(tel)
    assert len(published) == 9  # every event still reaches the bus
    labels = (("camera", "cam-1"), ("rule", "restricted_zone_intrusion"), ("zone", "dock"))
    assert m[("floorwatch_alerts_total", labels)] == 5
    assert m[("floorwatch_alerts_total", (("camera", "cam-1"), ("rule", "restricted_zone_intrusion"), ("zone", "press")))] == 1
    lat = (("camera", "cam-1"), ("rule", "restricted_zone_intrusion"))
    assert m[("floorwatch_frame_to_alert_seconds_count", lat)] == 6
    assert m[("floorwatch_frame_to_alert_seconds_sum", lat)] == pytest.approx(3.5)
    assert m[("floorwatch_frame_to_alert_seconds_bucket", tuple(sorted((*lat, ("le", "0.25")))))] == 2
    cam = (("camera", "cam-1"),)
    assert (m[("floorwatch_frames_read_total", cam)], m[("floorwatch_frames_processed_total", cam)],
            m[("floorwatch_frames_dropped_total", cam)], m[("floorwatch_frame_queue_depth", cam)]) == (120, 100, 20, 3)
    assert m[("floorwatch_camera_up", cam)] == 0 and m[("floorwatch_camera_outages_total", cam)] == 1
    p50, p95 = tel.camera("cam-1").latency_percentiles()
    assert p50 == pytest.approx(0.35) and 0.5 < p95 <= 2.0
    publish(outage("o1", ended=True, camera_id="cam-1"))
    assert _samples(tel)[("floorwatch_camera_up", cam)] == 1


def test_timed_predictor_observes_each_call_and_passes_results_through() -> None:
    tel = VisionTelemetry()

    class Echo:
        names = {0: "person"}

        def predict(self, frames: list[object]) -> list[object]:
            return [f"dets-{f}" for f in frames]

    det = tel.predictor(Echo(), "cam-9")
    assert det.predict([1, 2]) == ["dets-1", "dets-2"] and det.names == {0: "person"}
    assert _samples(tel)[("floorwatch_inference_seconds_count", (("camera", "cam-9"),))] == 1
    assert tel.camera("cam-9").last_frame_at is not None


@pytest.mark.parametrize(
    ("outage_since", "last_frame", "ended", "final", "expected"),
    [
        (None, None, False, False, "starting"),
        (None, NOW, False, False, "live"),
        (NOW, NOW, False, False, "reconnecting"),
        (None, NOW, True, False, "stopped"),
        (NOW, NOW, False, True, "stopped"),
    ],
)
def test_camera_state(outage_since, last_frame, ended, final, expected) -> None:  # type: ignore[no-untyped-def]
    tel = VisionTelemetry()
    cam = tel.camera("c")
    cam.pipeline = _pipeline("c", 1, 1, 0, ended=ended)
    cam.outage_since, cam.last_frame_at = outage_since, last_frame
    assert camera_state(cam, final) == expected


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(CameraHeartbeat)) or 0)


def test_heartbeats_upsert_per_camera_and_process_and_show_on_the_health_page(
    migrated_db: sessionmaker[Session], tmp_path: Path
) -> None:
    tel = VisionTelemetry()
    tel.attach(_pipeline("cam-a", read=50, processed=50, dropped=0))
    tel.attach(_pipeline("cam-b", read=10, processed=8, dropped=2))
    tel.camera("cam-a").last_frame_at = NOW
    tel.publisher(lambda e: None)(_started("x1", 0.25, camera="cam-a"))
    tel.publisher(lambda e: None)(outage("ob", camera_id="cam-b"))
    writer = HeartbeatWriter(migrated_db, tel, interval_s=5.0, process_id="host-1:42:1")
    assert writer.beat() and writer.beat()  # same key twice: still one row per camera
    assert _count(migrated_db) == 2
    # A second process watching cam-a (e.g. on another machine) adds its own row; an old one went silent.
    other = HeartbeatWriter(migrated_db, tel, interval_s=5.0, process_id="host-2:7:1")
    assert other.beat()
    assert _count(migrated_db) == 4
    with session_scope(migrated_db) as s:
        for hb in s.scalars(select(CameraHeartbeat).where(CameraHeartbeat.process_id == "host-2:7:1")):
            hb.updated_at = NOW - timedelta(minutes=10)  # older than the first process's beats
        s.add(Camera(id="cam-b", name="cam-b"))
        s.flush()
        s.add(CameraOutage(id="old-1", camera_id="cam-b", started_at=NOW - timedelta(hours=2), reason="x"))
        s.add(CameraOutage(id="old-2", camera_id="cam-b", started_at=NOW - timedelta(hours=30), reason="x"))

    settings = Settings(media=MediaConfig(dir=tmp_path), cameras=[
        CameraConfig(id="cam-a", source="rtsp://a/1"), CameraConfig(id="cam-c", source="rtsp://c/1")])  # fmt: skip
    with TestClient(create_app(settings, read_only=True, sessions=migrated_db)) as client:
        health = {h["camera_id"]: h for h in client.get("/api/cameras/health").json()}
        page = client.get("/cameras").text
    assert set(health) == {"cam-a", "cam-b", "cam-c"}
    a, b, c = health["cam-a"], health["cam-b"], health["cam-c"]
    assert (a["state"], a["process_id"], a["processes"], a["frames_processed"]) == ("live", "host-1:42:1", 2, 50)
    assert a["latency_p50_s"] == pytest.approx(0.25)
    assert (b["state"], b["frames_dropped"]) == ("reconnecting", 2) and b["down_since"] is not None
    assert b["outages_24h"] == 1  # the stored 30-hour-old outage does not count; the live one is the same
    assert c["state"] == "unknown" and c["process_id"] is None
    assert "cam-c" in page and "no heartbeat yet" in page and "reconnecting" in page

    writer.close()  # the process exits: its cameras are stopped, not down
    with TestClient(create_app(settings, read_only=True, sessions=migrated_db)) as client:
        assert {h["camera_id"]: h["state"] for h in client.get("/api/cameras/health").json()}["cam-a"] == "stopped"


def test_a_process_that_stopped_beating_shows_its_cameras_down(migrated_db: sessionmaker[Session]) -> None:
    from floorwatch.review.health import camera_health

    tel = VisionTelemetry()
    tel.attach(_pipeline("cam-z", read=5, processed=5, dropped=0))
    tel.camera("cam-z").last_frame_at = NOW - timedelta(seconds=40)
    assert HeartbeatWriter(migrated_db, tel, interval_s=10.0, process_id="p").beat()
    with migrated_db() as s:
        assert camera_health(s, [], now=datetime.now(UTC) + timedelta(seconds=25))[0].state == "live"
        late = camera_health(s, [], now=datetime.now(UTC) + timedelta(seconds=31))[0]
    assert late.state == "down" and late.down_since == NOW - timedelta(seconds=40)
