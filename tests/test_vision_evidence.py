"""Background evidence writer: ordered jobs, bounded clip-frame queue (drop + count, never block), full flush."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from floorwatch.config import MediaConfig
from floorwatch.schemas.events import AlertEvent
from floorwatch.vision.detections import Detections
from floorwatch.vision.evidence import EvidenceRecorder, EvidenceWriter
from floorwatch.vision.sources import Frame


def _frame(i: int, ts: float) -> Frame:
    return Frame(i, ts, datetime.now(UTC), np.full((120, 160, 3), 90, dtype=np.uint8))


def _started(alert_id: str, frame: int) -> AlertEvent:
    return AlertEvent(
        event_id=f"e-{alert_id}", alert_id=alert_id, phase="started", rule="restricted_zone_intrusion",
        severity="high", camera_id="dock", zone_id="bay", track_id=1, frame=frame, video_ts=frame / 10,
        occurred_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
    )


def test_writer_runs_jobs_in_order_and_drops_only_clip_frames_when_full() -> None:
    writer = EvidenceWriter(max_pending_frames=3)
    gate, busy, ran = threading.Event(), threading.Event(), []
    writer.submit(lambda: (busy.set(), gate.wait(5)))  # the worker is busy: everything below waits in the queue
    assert busy.wait(5)  # the worker has taken the gate job off the queue
    t0 = time.perf_counter()
    accepted = [writer.submit(lambda i=i: ran.append(i), clip_frame=True) for i in range(6)]
    writer.submit(lambda: ran.append("snapshot"))  # not a clip frame: never dropped
    assert time.perf_counter() - t0 < 0.5  # submit never waited for the busy worker
    assert accepted == [True, True, True, False, False, False]
    assert writer.frames_dropped == 3 and writer.pending == 4
    gate.set()
    writer.close()
    assert ran == [0, 1, 2, "snapshot"] and writer.pending == 0
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(lambda: None)


def test_a_failing_job_is_counted_and_later_jobs_still_run() -> None:
    writer = EvidenceWriter()
    ran: list[int] = []
    writer.submit(lambda: 1 / 0)  # type: ignore[func-returns-value]
    writer.submit(lambda: ran.append(1))
    writer.close()
    assert writer.failed == 1 and ran == [1]


def test_recorder_returns_paths_at_once_and_close_flushes_every_file(tmp_path: Path) -> None:
    media = MediaConfig(dir=tmp_path, clip_pre_seconds=0.5, clip_post_seconds=0.5)
    rec = EvidenceRecorder(media, "dock", fps=10.0)
    dets = Detections(xyxy=[[10, 10, 50, 90]], label=["person"], track_id=[1])
    events = []
    for i in range(30):
        frame = _frame(i, i / 10)
        rec.push(frame, dets)
        if i in (8, 20):
            events.append(rec.attach(_started(f"dock-bay-{i}", i), frame, dets))
    rec.close()
    assert [e.snapshot for e in events] == ["dock/2024-05-01/dock-bay-8.jpg", "dock/2024-05-01/dock-bay-20.jpg"]
    for e in events:
        assert cv2.imread(str(tmp_path / e.snapshot)).shape == (120, 160, 3)
        assert int(cv2.VideoCapture(str(tmp_path / e.clip)).get(cv2.CAP_PROP_FRAME_COUNT)) == 11
    assert rec.frames_dropped == 0 and len(rec.written) == 4


def test_a_slow_writer_drops_clip_frames_but_keeps_the_snapshot(tmp_path: Path) -> None:
    media = MediaConfig(dir=tmp_path, clip_pre_seconds=0.5, clip_post_seconds=0.5)
    rec = EvidenceRecorder(media, "dock", fps=10.0, max_pending_frames=2)
    gate = threading.Event()
    rec.writer.submit(lambda: gate.wait(5))  # stands in for a disk that is not keeping up
    dets = Detections(xyxy=[[10, 10, 50, 90]], label=["person"], track_id=[1])
    for i in range(9):
        rec.push(_frame(i, i / 10), dets)
    event = rec.attach(_started("dock-bay-1", 8), _frame(8, 0.8), dets)  # pre-roll of 6 frames, room for 2
    gate.set()
    for i in range(9, 20):  # the disk keeps up again: nothing more is dropped
        _wait_idle(rec.writer)
        rec.push(_frame(i, i / 10), dets)
    rec.close()
    assert rec.frames_dropped == 4
    assert cv2.imread(str(tmp_path / event.snapshot)) is not None
    frames = int(cv2.VideoCapture(str(tmp_path / event.clip)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert frames == 7  # 2 of the 6 pre-roll frames + 5 after


def _wait_idle(writer: EvidenceWriter, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while writer.pending and time.monotonic() < deadline:
        time.sleep(0.005)
