"""``service.watch``: several cameras, one thread each, sharing ONE real detector through a BatchedDetector."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from floorwatch.config import CameraConfig, DetectorConfig, MediaConfig, Settings, load_zones_file
from floorwatch.schemas.events import AlertEvent
from tests.conftest import REPO_ROOT
from tests.vision_factories import RecordingPredictor

VTEST = REPO_ROOT / "sample_media" / "vtest.avi"
ZONES = REPO_ROOT / "sample_media" / "zones.yaml"
FRAMES = 20


def test_watch_batches_frames_of_two_cameras_through_one_detector(tmp_path: Path) -> None:
    from floorwatch.vision.service import apply_runtime, build_detector, watch

    zones = load_zones_file(ZONES)
    settings = Settings(
        database={"url": f"sqlite:///{tmp_path / 'fw.db'}"},
        detector=DetectorConfig(imgsz=320, batch=2),
        media=MediaConfig(dir=tmp_path / "media", clip_pre_seconds=0.5, clip_post_seconds=0.5),
        cameras=[CameraConfig(id=cam, source=str(VTEST), zones=zones) for cam in ("cam-a", "cam-b")],
    )
    apply_runtime(settings)
    det = RecordingPredictor(build_detector(settings.detector))
    events: list[Any] = []
    lock = threading.Lock()

    def on_event(e: Any) -> None:
        with lock:
            events.append(e)

    results = watch(settings, detector=det, max_frames=FRAMES, on_event=on_event)

    assert {cam: s.frames for cam, s in results.items()} == {"cam-a": FRAMES, "cam-b": FRAMES}
    assert sum(det.calls) == 2 * FRAMES and max(det.calls) == 2  # one model call served both cameras
    assert det.threads == {"batched-detector"}
    assert all(isinstance(e, AlertEvent) for e in events)  # no outage: both files opened and were read
