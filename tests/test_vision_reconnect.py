"""A live MJPEG camera (a real HTTP server process) goes away and comes back: the source records the outage
(start and end) and the stream resumes. Also: reconnect backoff bounds and the drop-oldest queue."""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from floorwatch.schemas.events import OutageEvent
from floorwatch.vision.sources import Backoff, Frame, FrameSource

SERVER = Path(__file__).with_name("mjpeg_server.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_camera(port: int, fps: float = 20.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), str(port), str(fps)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _stop_camera(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture
def camera_port() -> int:
    return _free_port()


def test_backoff_grows_exponentially_and_is_capped() -> None:
    b = Backoff(initial=0.5, factor=2.0, max_delay=4.0, jitter=0.2)
    rng = random.Random(1)
    delays = [b.delay(n, rng) for n in range(10)]
    assert 0.4 <= delays[0] <= 0.6
    assert 0.8 <= delays[1] <= 1.2
    assert all(d <= 4.0 for d in delays)
    assert delays[-1] >= 3.2  # capped near max_delay, jitter still applied
    assert len({round(b.delay(3, rng), 6) for _ in range(20)}) > 1  # jitter actually varies


def test_outage_is_recorded_and_stream_resumes(camera_port: int) -> None:
    url = f"http://127.0.0.1:{camera_port}/stream"
    proc = _start_camera(camera_port)
    outages: list[OutageEvent] = []
    frames: list[Frame] = []
    source = FrameSource(
        url, camera_id="dock", on_outage=outages.append, io_timeout_s=2.0,
        backoff=Backoff(initial=0.2, factor=2.0, max_delay=1.0, jitter=0.1),
    ).open()
    stop = threading.Event()

    def consume() -> None:
        for f in source:
            frames.append(f)
            if stop.is_set():
                break

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    try:
        _wait(lambda: len(frames) >= 10, 10, "first frames")
        _stop_camera(proc)
        _wait(lambda: len(outages) >= 1, 10, "outage start")
        before_restart = len(frames)
        # Three reconnect attempts (0.2 + 0.4 + 0.8 s of backoff) start while the camera is still down.
        _wait(lambda: source.stats.reconnects >= 3, 15, "reconnect attempts while the camera is down")
        proc = _start_camera(camera_port)
        _wait(lambda: len(outages) >= 2, 15, "outage end")
        _wait(lambda: len(frames) >= before_restart + 10, 10, "frames after the camera came back")
    finally:
        stop.set()
        source.close()
        _stop_camera(proc)
        consumer.join(5)

    start, end = outages[0], outages[1]
    assert start.camera_id == end.camera_id == "dock"
    assert start.outage_id == end.outage_id
    assert start.ended_at is None and end.ended_at is not None
    assert end.ended_at > end.started_at
    assert (end.ended_at - end.started_at).total_seconds() >= 1.0
    assert start.event_id != end.event_id
    assert source.stats.reconnects >= 2  # at least one failed attempt, then the good one
    indices = [f.index for f in frames]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)  # numbering continues


def test_live_source_drops_oldest_when_consumer_is_slow(camera_port: int) -> None:
    proc = _start_camera(camera_port, fps=40)
    source = FrameSource(f"http://127.0.0.1:{camera_port}/stream", camera_id="c", queue_size=2).open()
    got: list[int] = []
    try:
        for f in source:
            got.append(f.index)
            time.sleep(0.15)  # inference far slower than the camera
            if len(got) >= 8:
                break
    finally:
        source.close()
        _stop_camera(proc)
    assert source.stats.frames_dropped > 0
    assert got == sorted(got)
    assert max(b - a for a, b in zip(got, got[1:], strict=False)) > 1  # skipped frames: the old ones went


def _wait(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_frozen_stream_outage_starts_at_the_last_frame(camera_port: int) -> None:
    """A camera that keeps its socket open but stops sending (SIGSTOP) is noticed only after the read timeout;
    the outage must still start at the last frame received, so blind time is not under-reported."""
    import os
    import signal

    url = f"http://127.0.0.1:{camera_port}/stream"
    proc = _start_camera(camera_port)
    outages: list[OutageEvent] = []
    frames: list[Frame] = []
    source = FrameSource(url, camera_id="dock", on_outage=outages.append, io_timeout_s=2.0,
                         backoff=Backoff(initial=5.0, max_delay=5.0, jitter=0.0)).open()
    consumer = threading.Thread(target=lambda: frames.extend(source), daemon=True)
    consumer.start()
    try:
        _wait(lambda: len(frames) >= 10, 10, "first frames")
        os.kill(proc.pid, signal.SIGSTOP)
        _wait(lambda: len(outages) >= 1, 15, "outage start")
        noticed = datetime.now(UTC)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        source.close(timeout=5)
        _stop_camera(proc)
        consumer.join(5)
    last = frames[-1].captured_at
    started = outages[0].started_at
    assert abs((started - last).total_seconds()) < 0.5  # the last frame, not the moment it was noticed
    assert (noticed - started).total_seconds() >= 1.5  # the read timeout really passed in between
