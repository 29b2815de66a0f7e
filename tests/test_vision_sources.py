"""Frame sources: kinds, frame numbering, pacing, bad inputs, evidence and JSON-lines output."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from floorwatch.config import MediaConfig
from floorwatch.schemas.events import AlertEvent
from floorwatch.vision.detections import Detections
from floorwatch.vision.evidence import EvidenceRecorder, FrameRing, Overlay, annotate, blur_heads
from floorwatch.vision.output import JsonLinesWriter, track_record
from floorwatch.vision.sources import Frame, FrameSource, SourceError, classify_source

REPO = Path(__file__).resolve().parents[1]
VTEST = REPO / "sample_media" / "vtest.avi"


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("0", "webcam"),
        ("rtsp://cam.local/stream", "url"),
        ("http://10.0.0.5:8080/video.mjpg", "url"),
        ("frames/img%06d.jpg", "sequence"),
        ("video.mp4", "file"),
    ],
)
def test_classify_source(source: str, kind: str) -> None:
    assert classify_source(source) == kind


def test_file_replay_numbers_frames_from_zero() -> None:
    frames = list(FrameSource(str(VTEST), max_frames=25).open())
    assert [f.index for f in frames] == list(range(25))
    assert frames[10].video_ts == pytest.approx(1.0)  # vtest.avi is 10 fps
    assert frames[0].image.shape == (576, 768, 3)
    assert all(f.captured_at.tzinfo is not None for f in frames)


def test_fps_limit_takes_every_nth_frame_of_a_file() -> None:
    frames = list(FrameSource(str(VTEST), max_frames=5, fps_limit=2.5).open())
    assert [f.index for f in frames] == [0, 4, 8, 12, 16]


def test_realtime_replay_runs_at_native_rate() -> None:
    t0 = time.monotonic()
    frames = list(FrameSource(str(VTEST), max_frames=8, realtime=True).open())
    assert len(frames) == 8
    assert time.monotonic() - t0 >= 0.65  # 8 frames at 10 fps: frame 7 is due at 0.7 s


def test_image_sequence(tmp_path: Path) -> None:
    for i in range(6):
        img = np.full((48, 64, 3), i * 30, dtype=np.uint8)
        cv2.imwrite(str(tmp_path / f"img{i:06d}.png"), img)
    frames = list(FrameSource(str(tmp_path / "img%06d.png"), sequence_fps=5.0).open())
    assert len(frames) == 6
    assert frames[3].video_ts == pytest.approx(0.6)
    assert int(frames[5].image.mean()) == 150


def _zero_frame_avi(path: Path) -> Path:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    w.release()
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: d / "missing.mp4", "file not found"),
        (lambda d: (d / "notes.mp4").write_text("not a video") and d / "notes.mp4", "cannot be opened as a video"),
        (lambda d: (d / "empty.mp4").write_bytes(b"") is not None and d / "empty.mp4", "empty"),
        (lambda d: _zero_frame_avi(d / "zero.avi"), "no decodable frames"),
        (lambda d: d, "not a regular file"),
        (lambda d: "ftp://example.org/cam", "unsupported URL scheme"),
        (lambda d: "http:///nohost", "no host"),
        (lambda d: "rtsp://127.0.0.1:1/none", "stream cannot be opened"),
        (lambda d: str(d / "nothing" / "img%04d.jpg"), "not found"),
    ],
)
def test_bad_sources_raise_a_clear_error(tmp_path: Path, make, problem: str) -> None:  # type: ignore[no-untyped-def]
    source = str(make(tmp_path))
    with pytest.raises(SourceError) as err:
        FrameSource(source, io_timeout_s=2.0).open()
    assert problem in str(err.value)
    assert source in str(err.value)


# ---------------------------------------------------------------------------- evidence and output
def _frame(i: int, ts: float, value: int = 100) -> Frame:
    return Frame(i, ts, datetime.now(UTC), np.full((200, 300, 3), value, dtype=np.uint8))


def test_ring_keeps_only_the_last_seconds() -> None:
    ring = FrameRing(seconds=1.0)
    for i in range(30):
        ring.push(_frame(i, i / 10), Overlay(Detections.empty()))
    kept = [f.index for f, _ in ring.frames()]
    assert kept == list(range(19, 30))


def test_blur_touches_only_the_head_band_and_annotate_copies() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    dets = Detections(xyxy=[[100, 50, 160, 150]], label=["person"], track_id=[7])
    out = annotate(img, Overlay(dets), blur=True)
    assert out is not img and not np.array_equal(out, img)
    blurred = blur_heads(img.copy(), dets)
    assert not np.array_equal(blurred[52:68, 102:158], img[52:68, 102:158])  # top 20 % of the box
    assert np.array_equal(blurred[75:150, 100:160], img[75:150, 100:160])  # body untouched


def test_evidence_writes_snapshot_and_clip(tmp_path: Path) -> None:
    media = MediaConfig(dir=tmp_path, clip_pre_seconds=0.5, clip_post_seconds=0.5)
    rec = EvidenceRecorder(media, "dock", fps=10.0, zones=[("bay", np.array([[0, 0], [100, 0], [100, 100]]))])
    dets = Detections(xyxy=[[10, 10, 50, 90]], label=["person"], track_id=[1])
    event = None
    for i in range(20):
        frame = _frame(i, i / 10)
        rec.push(frame, dets)
        if i == 8:
            started = AlertEvent(
                event_id="x", alert_id="dock-bay-1", phase="started", rule="restricted_zone_intrusion",
                severity="high", camera_id="dock", zone_id="bay", track_id=1, frame=8, video_ts=0.8,
                occurred_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
            )
            event = rec.attach(started, frame, dets)
    rec.close()
    assert event is not None
    assert event.snapshot == "dock/2024-05-01/dock-bay-1.jpg"
    assert event.clip == "dock/2024-05-01/dock-bay-1.mp4"
    assert cv2.imread(str(tmp_path / event.snapshot)).shape == (200, 300, 3)
    cap = cv2.VideoCapture(str(tmp_path / event.clip))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 11  # 0.5 s before (6 frames, current included) + 5 after


def test_track_records_are_json_lines(tmp_path: Path) -> None:
    dets = Detections(xyxy=[[1, 2, 3, 4]], confidence=[0.91234], label=["person"], track_id=[5])
    with JsonLinesWriter(tmp_path / "t.jsonl") as w:
        w.write(track_record(3, 0.3, dets))
        w.write(track_record(4, 0.4, Detections.empty()))
    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert lines[0] == {
        "frame": 3, "video_ts": 0.3,
        "detections": [{"track_id": 5, "label": "person", "confidence": 0.9123, "bbox": [1.0, 2.0, 3.0, 4.0]}],
    }
    assert lines[1]["detections"] == []
