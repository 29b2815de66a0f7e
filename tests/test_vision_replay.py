"""Replay of real video through the whole pipeline: expected alerts, evidence, DB rows, CLI formats, bad input.

Expected frames were measured on a first run (CPU, imgsz 416, packaged ``fall`` model) and are asserted
with a tolerance. Videos are cut short with ``max_frames`` where the assertion allows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
from sqlalchemy import select

from floorwatch.config import DetectorConfig, MediaConfig, Settings, load_zones_file
from floorwatch.schemas.events import AlertEvent, OutageEvent
from floorwatch.schemas.tables import Alert
from floorwatch.storage.db import make_engine, session_factory
from tests.conftest import REPO_ROOT, shared_data

VTEST = "sample_media/vtest.avi"  # relative: part of the deterministic alert ids, run from the repo root
ZONES = REPO_ROOT / "sample_media" / "zones.yaml"
IMGSZ = 416
FRAMES = 80
FLOORWATCH = [sys.executable, "-m", "floorwatch.cli.main"]


# Every FP32 detector runtime must raise the same alerts (#17): exported runtimes run when their module is
# installed. OpenVINO INT8 is not held to these exact alerts (measured: one extra intrusion at frame 49 of a
# person at the lane's edge); its agreement with torch is tested in test_vision_runtimes.py and its person
# recall / precision cost measured by benchmarks/vision.py --runtime.
RUNTIMES = [("torch", "fp32"), ("onnxruntime", "fp32"), ("openvino", "fp32")]


@pytest.fixture(scope="module", params=RUNTIMES, ids=lambda p: "-".join(p))
def detector(request):  # type: ignore[no-untyped-def]
    from floorwatch.vision.runtimes import importable
    from floorwatch.vision.service import apply_runtime, build_detector

    runtime, precision = request.param
    if not importable(runtime):
        pytest.skip(f"runtime {runtime} is not installed (pip install 'floorwatch[cpu]')")
    apply_runtime(Settings())
    det = build_detector(DetectorConfig(imgsz=IMGSZ, runtime=runtime, precision=precision))
    assert (det.runtime, det.fallback) == (runtime, ""), det.fallback  # never a silent fallback to torch
    return det


@pytest.fixture(scope="module")
def sample_run(detector, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The first 80 frames of vtest.avi with the sample zones, stored in a fresh SQLite database."""
    from floorwatch.vision.service import replay

    tmp = tmp_path_factory.mktemp("replay")
    settings = Settings(
        database={"url": f"sqlite:///{tmp / 'fw.db'}"},
        media=MediaConfig(dir=tmp / "media", clip_pre_seconds=1.0, clip_post_seconds=1.0, blur_faces=True),
    )
    events: list[AlertEvent | OutageEvent] = []
    os.chdir(REPO_ROOT)
    stats = replay(VTEST, settings, zones=load_zones_file(ZONES), detector=detector, max_frames=FRAMES,
                   on_event=events.append)
    return settings, stats, [e for e in events if isinstance(e, AlertEvent)]


def test_sample_video_raises_the_expected_alerts(sample_run) -> None:  # type: ignore[no-untyped-def]
    _, stats, events = sample_run
    started = [e for e in events if e.phase == "started"]
    intrusions = sorted(e.frame for e in started if e.rule == "restricted_zone_intrusion")
    # Two people walk down the right-hand road (forklift_lane) early on: measured frames 20 and 30;
    # then 4 people crowd the crossing: measured frame 69 (people=4).
    assert len(intrusions) == 2, started
    assert 14 <= intrusions[0] <= 26 and 24 <= intrusions[1] <= 38
    assert all(e.zone_id == "forklift_lane" and e.track_id is not None for e in started if e.rule != "crowding")
    crowd = [e for e in started if e.rule == "crowding"]
    assert len(crowd) == 1 and crowd[0].zone_id == "crossing" and crowd[0].track_id is None
    assert 62 <= crowd[0].frame <= 76 and (crowd[0].people or 0) >= 3
    # Every started alert ends (inside the video or when the replay stops).
    assert Counter(e.alert_id for e in events if e.phase == "ended") == Counter(e.alert_id for e in started)
    assert stats.frames == FRAMES and stats.frames_dropped == 0
    assert stats.alerts_started == len(started)


def test_alerts_carry_evidence_and_latency(sample_run) -> None:  # type: ignore[no-untyped-def]
    settings, stats, events = sample_run
    for e in events:
        assert e.latency is not None
        assert e.latency.captured_at <= e.latency.inferred_at <= e.latency.published_at
    for e in (e for e in events if e.phase == "started"):
        assert e.snapshot and e.clip
        assert not Path(e.snapshot).is_absolute() and e.snapshot.startswith("replay/")
        snap = cv2.imread(str(settings.media.dir / e.snapshot))
        assert snap.shape == (576, 768, 3)
        cap = cv2.VideoCapture(str(settings.media.dir / e.clip))
        assert cap.get(cv2.CAP_PROP_FRAME_COUNT) >= 11  # 1 s before + the alert frame, at 10 fps
    assert stats.latency_percentile(95) is not None


def test_alerts_are_stored_once_per_alert(sample_run) -> None:  # type: ignore[no-untyped-def]
    settings, _, events = sample_run
    engine = make_engine(settings.database.url)
    with session_factory(engine)() as session:
        rows = session.scalars(select(Alert)).all()
    engine.dispose()
    assert {r.id for r in rows} == {e.alert_id for e in events}
    assert all(r.status == "closed" for r in rows)


def test_cli_replay_json_and_tracks_match_the_library_run(sample_run, detector, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, events = sample_run
    tracks = tmp_path / "tracks.jsonl"
    proc = subprocess.run(
        [*FLOORWATCH, "replay", VTEST, "--zones", str(ZONES), "--imgsz", str(IMGSZ), "--json", "--no-db",
         "--tracks-out", str(tracks), "--max-frames", "40", "--start-time", "2024-03-18T08:00:00+00:00"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "FLOORWATCH_MEDIA__DIR": str(tmp_path / "media"),
             "FLOORWATCH_DETECTOR__RUNTIME": detector.runtime, "FLOORWATCH_DETECTOR__PRECISION": detector.cfg.precision},
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]  # stdout holds nothing but JSON lines
    assert lines and all(
        {"alert_id", "rule", "phase", "camera_id", "zone_id", "track_id", "frame", "video_ts", "severity",
         "snapshot"} <= set(x) for x in lines
    )
    started = {x["alert_id"]: x for x in lines if x["phase"] == "started"}
    library = {e.alert_id: e for e in events if e.phase == "started" and e.frame < 40}
    assert set(started) == set(library)  # replaying again gives the same alert ids
    for alert_id, x in started.items():
        assert x["frame"] == library[alert_id].frame
        assert x["video_ts"] == pytest.approx(x["frame"] / 10)
        recorded = datetime.fromisoformat(x["occurred_at"].replace("Z", "+00:00"))
        assert recorded == datetime(2024, 3, 18, 8, tzinfo=UTC) + timedelta(seconds=x["video_ts"])
    rows = [json.loads(x) for x in tracks.read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(40))
    dets = [d for r in rows for d in r["detections"]]
    assert dets and all(d["label"] in {"person", "fallen_person"} for d in dets)
    assert all(0 <= d["bbox"][0] < d["bbox"][2] <= 768 and 0 <= d["bbox"][1] < d["bbox"][3] <= 576 for d in dets)
    assert all(isinstance(d["track_id"], int) and 0 < d["confidence"] <= 1 for d in dets)
    assert '"summary"' in proc.stderr


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: str(d / "missing.mp4"), "file not found"),
        (lambda d: (d / "notes.avi").write_text("plain text") and str(d / "notes.avi"), "cannot be opened as a video"),
        (lambda d: "rtsp://127.0.0.1:1/nothing", "stream cannot be opened"),
        (lambda d: "ftp://example.org/x.mp4", "unsupported URL scheme"),
        (lambda d: _zero_frame_video(d / "zero.avi"), "no decodable frames"),
    ],
)
def test_cli_bad_video_exits_2_with_a_clear_message(tmp_path: Path, make, needle: str) -> None:  # type: ignore[no-untyped-def]
    source = make(tmp_path)
    proc = subprocess.run([*FLOORWATCH, "replay", source, "--no-db"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr and source in proc.stderr
    assert proc.stdout == ""


def test_cli_bad_start_time_exits_2() -> None:
    proc = subprocess.run([*FLOORWATCH, "replay", str(REPO_ROOT / VTEST), "--start-time", "yesterday", "--no-db"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--start-time 'yesterday'" in proc.stderr and "ISO 8601" in proc.stderr


def test_cli_bad_zones_file_exits_2(tmp_path: Path) -> None:
    zones = tmp_path / "zones.yaml"
    zones.write_text("- id: Bad Zone\n  polygon: [[0, 0], [1, 1]]\n")
    proc = subprocess.run([*FLOORWATCH, "replay", str(REPO_ROOT / VTEST), "--zones", str(zones), "--no-db"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert str(zones) in proc.stderr and "polygon" in proc.stderr


def _zero_frame_video(path: Path) -> str:
    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64)).release()
    return str(path)


@pytest.mark.slow
def test_track_ids_stay_stable_on_people_walking_one_by_one(detector) -> None:  # type: ignore[no-untyped-def]
    """one-by-one-person-detection.mp4: people walk in one at a time; each should keep one track id."""
    from floorwatch.vision.sources import FrameSource
    from floorwatch.vision.tracker import Tracker

    video = shared_data("video", "one-by-one-person-detection.mp4")
    source = FrameSource(str(video), max_frames=PERSON_FRAMES).open()
    tracker = Tracker(frame_rate=source.fps)
    frames_per_id: Counter[int] = Counter()
    for frame in source:
        tracked = tracker.update(detector.predict([frame.image])[0]).people()
        frames_per_id.update(int(t) for t in tracked.track_id if t >= 0)
    long_lived = [t for t, n in frames_per_id.items() if n >= 20]  # seen for >= 2 s
    # Two people walk in within the first 300 frames (checked by eye: frames ~65-200 and ~245-300+).
    # Measured: 2 ids (132 and 70 frames), no switch. Allow one switch at most.
    assert 2 <= len(long_lived) <= 3, frames_per_id
    top_two = sum(n for _, n in frames_per_id.most_common(2))
    assert top_two >= 0.9 * sum(frames_per_id.values()), frames_per_id


PERSON_FRAMES = 300


def test_flow_entrypoints_import() -> None:
    from floorwatch.flows.monitor import monitor_camera
    from floorwatch.flows.replay import replay_video

    assert replay_video.name == "replay-video" and monitor_camera.name == "monitor-camera"
    assert callable(replay_video.fn) and callable(monitor_camera.fn)
