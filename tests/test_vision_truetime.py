"""True video time: ``video_ts`` from the decoder's timestamps (PTS) of a variable-frame-rate file the test
writes itself with PyAV, image-sequence frame rate from the camera, and the decoder clock's fallbacks."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from floorwatch.config import CameraConfig, Settings
from floorwatch.vision.pipeline import camera_for_replay
from floorwatch.vision.sources import DecoderClock, FrameSource

av = pytest.importorskip("av", reason="PyAV (dev extra) writes the variable-frame-rate test file")

FAST, SLOW = 0.1, 0.3  # seconds between frames: 10 fps, then 3.3 fps


def _write_vfr(path: Path, n_fast: int = 40, n_slow: int = 20) -> list[float]:
    """A video whose first ``n_fast`` frames are 0.1 s apart and the rest 0.3 s apart; returns the PTS (s)."""
    times = [i * FAST for i in range(n_fast)] + [n_fast * FAST + i * SLOW for i in range(n_slow)]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            img = np.full((64, 96, 3), (i * 4) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return times


def _decoder_times(path: Path) -> list[float]:
    with av.open(str(path)) as cont:
        return [float(f.time) for f in cont.decode(video=0)]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_vfr_file_video_ts_follows_the_decoder_timestamps(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"vfr{suffix}"
    _write_vfr(path)
    truth = _decoder_times(path)
    assert truth[-1] - truth[0] > 9.0  # 40 x 0.1 s + 19 x 0.3 s: an index/average-fps clock would be far off
    frames = list(FrameSource(str(path)).open())
    assert len(frames) == len(truth)
    got = np.array([f.video_ts for f in frames])
    want = np.array(truth) - truth[0]
    assert np.abs(got - want).max() <= FAST + 1e-6  # within one frame everywhere
    assert got[-1] == pytest.approx(want[-1], abs=0.01)
    assert np.all(np.diff(got) > 0)


def test_fps_limit_keeps_true_time_on_a_vfr_file(tmp_path: Path) -> None:
    path = tmp_path / "vfr.mkv"
    _write_vfr(path)
    truth = np.array(_decoder_times(path))
    frames = list(FrameSource(str(path), fps_limit=5).open())
    for f in frames:
        assert f.video_ts == pytest.approx(truth[f.index] - truth[0], abs=FAST)


def test_image_sequence_uses_the_camera_fps(tmp_path: Path) -> None:
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"img{i:04d}.png"), np.full((32, 32, 3), i * 30, np.uint8))
    pattern = str(tmp_path / "img%04d.png")
    frames = list(FrameSource(pattern, sequence_fps=4.0).open())
    assert [f.video_ts for f in frames] == pytest.approx([i / 4.0 for i in range(6)])
    cam = camera_for_replay(pattern, Settings(), fps=2.5)
    assert cam.fps == 2.5
    configured = Settings(cameras=[CameraConfig(id="c1", source="x.mp4", fps=5.0)])
    assert camera_for_replay(pattern, configured, "c1").fps == 5.0
    assert camera_for_replay(pattern, configured, "c1", fps=8.0).fps == 8.0


def test_camera_fps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="fps"):
        CameraConfig(id="c1", source="img%04d.png", fps=0)


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        ([0.0, 100.0, 200.0, 500.0], [0.0, 0.1, 0.2, 0.5]),  # decoder PTS taken as they are
        ([0.0, 0.0, 0.0], [0.0, 0.1, 0.2]),  # backend gives nothing: nominal fps
        ([0.0, 100.0, 50.0, 300.0], [0.0, 0.1, 0.2, 0.3]),  # backwards stamp: last + one frame
        ([40.0, 140.0, 240.0], [0.0, 0.1, 0.2]),  # first PTS is the origin
    ],
)
def test_decoder_clock(stamps: list[float], expected: list[float]) -> None:
    clock = DecoderClock(10.0)
    assert [clock.stamp(i, s) for i, s in enumerate(stamps)] == pytest.approx(expected)


def test_decoder_clock_for_sequences_ignores_the_decoder() -> None:
    clock = DecoderClock(4.0, use_decoder=False)
    assert [clock.stamp(i, 999.0) for i in range(3)] == pytest.approx([0.0, 0.25, 0.5])
