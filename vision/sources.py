"""Video sources: file, RTSP/HTTP(S) (MJPEG too) URL, webcam index, image-sequence pattern.

Every source is read the same way: a reader thread puts :class:`Frame` values into a bounded queue
and the consumer iterates over the source. Live streams (and files replayed with ``realtime=True``)
drop the OLDEST queued frame when inference falls behind and count it; a plain file replay blocks the
reader instead, so every frame is processed as fast as possible. Live streams that drop are reopened
with exponential backoff and jitter; each outage is reported through ``on_outage`` twice (when it
starts, with ``ended_at=None``, and when the stream is back).
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import cv2
import numpy as np

from floorwatch.schemas.events import OutageEvent

log = logging.getLogger(__name__)

SourceKind = Literal["file", "url", "webcam", "sequence"]
_URL_SCHEMES = {"rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt"}
_SEQUENCE_RE = re.compile(r"%0?\d*d")
_END = object()


class SourceError(Exception):
    """A video source cannot be used; names the source and the problem."""

    def __init__(self, source: str, problem: str):
        self.source = source
        self.problem = problem
        super().__init__(f"video source {source!r}: {problem}")


@dataclass(frozen=True)
class Frame:
    """One decoded frame. ``video_ts`` is seconds into the video/stream, ``captured_at`` wall time (UTC)."""

    index: int
    video_ts: float
    captured_at: datetime
    image: np.ndarray


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``initial * factor**n`` capped at ``max_delay``, each scaled by ``1 ± jitter``."""

    initial: float = 0.5
    factor: float = 2.0
    max_delay: float = 30.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0-based); never above ``max_delay``."""
        base = min(self.max_delay, self.initial * self.factor ** min(attempt, 60))
        r = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, min(self.max_delay, base * (1.0 + r)))


@dataclass
class SourceStats:
    """Counters of one source (read by the pipeline's stats)."""

    frames_read: int = 0
    frames_dropped: int = 0
    reconnects: int = 0
    outages: int = 0


class DecoderClock:
    """``video_ts`` of file frames from the decoder's presentation timestamps (PTS).

    ``cv2.CAP_PROP_POS_MSEC`` read right after a frame is decoded is that frame's PTS in ms, so a
    variable-frame-rate file (NVR exports, phones) keeps its true time line. Frame index / ``fps`` is used
    instead for image sequences (no timestamps), when the backend reports nothing (0 after the first frame)
    or a timestamp that goes backwards (broken streams): then the last good stamp plus one nominal frame.

    Args:
        fps: Nominal frame rate (frames/s) used for the fallbacks.
        use_decoder: False for image sequences: always index / fps.
    """

    def __init__(self, fps: float, *, use_decoder: bool = True):
        self.fps = fps if fps > 0 else 10.0
        self.use_decoder = use_decoder
        self._last: float | None = None
        self._origin: float | None = None  # first frame's PTS: video_ts starts at 0

    def stamp(self, index: int, pos_msec: float | None) -> float:
        """Seconds into the video of frame ``index`` (0-based) given the decoder's position in ms."""
        nominal = index / self.fps if self._last is None else self._last + 1.0 / self.fps
        ts = nominal
        if self.use_decoder and pos_msec is not None and np.isfinite(pos_msec) and (pos_msec > 0 or index == 0):
            if self._origin is None:
                self._origin = pos_msec / 1000.0 if index == 0 else 0.0
            pts = pos_msec / 1000.0 - self._origin
            if self._last is None or pts > self._last:
                ts = pts
        self._last = ts
        return ts


def classify_source(source: str) -> SourceKind:
    """Tell what kind of source a config string names ('0' = webcam, URL, image pattern, else file)."""
    s = source.strip()
    if s.isdigit():
        return "webcam"
    if "://" in s:
        return "url"
    if _SEQUENCE_RE.search(Path(s).name):
        return "sequence"
    return "file"


def outage_id(camera_id: str, started_at: datetime) -> str:
    """Deterministic outage id from the camera and the start time."""
    digest = hashlib.sha1(f"{camera_id}|{started_at.isoformat()}".encode()).hexdigest()[:16]
    return f"outage-{camera_id}-{digest}"


def _check_source(source: str, kind: SourceKind) -> None:
    if kind == "url":
        parsed = urlparse(source)
        if parsed.scheme.lower() not in _URL_SCHEMES:
            raise SourceError(source, f"unsupported URL scheme {parsed.scheme!r} (use one of {sorted(_URL_SCHEMES)})")
        if not parsed.hostname:
            raise SourceError(source, "URL has no host")
    elif kind == "file":
        p = Path(source)
        if not p.exists():
            raise SourceError(source, "file not found")
        if not p.is_file():
            raise SourceError(source, "not a regular file")
        if p.stat().st_size == 0:
            raise SourceError(source, "file is empty (zero bytes)")
    elif kind == "sequence":
        parent = Path(source).parent
        if not parent.is_dir():
            raise SourceError(source, f"folder {str(parent)!r} of the image sequence not found")


class FrameSource:
    """A video source iterated as :class:`Frame` values (see module docstring).

    Args:
        source: File path, URL, webcam index ('0') or image pattern (``img%06d.jpg``).
        camera_id: Camera the frames belong to (names outages).
        realtime: Pace a file/sequence at its native rate and drop frames like a live stream.
        queue_size: Frames buffered between reader and consumer.
        fps_limit: Deliver at most this many frames per second (every n-th frame of a file).
        max_frames: Stop after this many delivered frames.
        on_outage: Called with an :class:`OutageEvent` when a live stream drops and when it is back.
        backoff: Reconnect delays of live streams.
        sequence_fps: Frame rate of an image sequence (a sequence has no timestamps of its own; the camera's
            ``fps`` setting or ``replay --fps``).
        io_timeout_s: Open/read timeout of network streams.
        require_initial: Raise :class:`SourceError` when a live stream cannot be opened at start
            (False = treat it as an outage and keep retrying).
    """

    def __init__(
        self,
        source: str,
        *,
        camera_id: str = "camera",
        realtime: bool = False,
        queue_size: int = 4,
        fps_limit: float | None = None,
        max_frames: int | None = None,
        on_outage: Callable[[OutageEvent], None] | None = None,
        backoff: Backoff | None = None,
        sequence_fps: float = 10.0,
        io_timeout_s: float = 5.0,
        require_initial: bool = True,
    ):
        self.source = str(source)
        self.kind = classify_source(self.source)
        self.camera_id = camera_id
        self.live = self.kind in ("url", "webcam")
        self.realtime = realtime or self.live
        self.queue_size = queue_size
        self.fps_limit = fps_limit
        self.max_frames = max_frames
        self.on_outage = on_outage
        self.backoff = backoff or Backoff()
        self.sequence_fps = sequence_fps
        self.io_timeout_s = io_timeout_s
        self.require_initial = require_initial
        self.stats = SourceStats()
        self.fps: float = 0.0
        self.frame_size: tuple[int, int] | None = None
        self._queue: deque[Frame | object] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cap: cv2.VideoCapture | None = None
        self._error: BaseException | None = None
        self._rng = random.Random()
        _check_source(self.source, self.kind)

    # ------------------------------------------------------------------ opening
    def _open_capture(self) -> cv2.VideoCapture:
        timeout_ms = int(self.io_timeout_s * 1000)
        if self.kind == "webcam":
            cap = cv2.VideoCapture(int(self.source))
        elif self.kind == "url":
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)
        elif self.kind == "sequence":
            cap = cv2.VideoCapture(self.source, cv2.CAP_IMAGES)
        else:
            cap = cv2.VideoCapture(self.source)
        return cap

    def _probe(self) -> tuple[cv2.VideoCapture, np.ndarray] | None:
        """Open the capture and read its first frame; None (live, not required) or SourceError when that fails."""
        cap = self._open_capture()
        problem = None
        if not cap.isOpened():
            problem = {
                "file": "cannot be opened as a video (not a video file or unsupported codec)",
                "url": "stream cannot be opened (unreachable host, wrong path or unsupported protocol)",
                "webcam": "webcam cannot be opened",
                "sequence": "no image matches the pattern",
            }[self.kind]
        else:
            ok, first = cap.read()
            if ok and first is not None:
                return cap, first
            problem = "stream sent no frame" if self.live else "contains no decodable frames"
        cap.release()
        if self.live and not self.require_initial:
            log.warning("video source %s: %s; will keep retrying", self.source, problem)
            return None
        raise SourceError(self.source, problem)

    def check(self) -> None:
        """Raise :class:`SourceError` unless the source opens and yields a first frame (nothing is started)."""
        opened = self._probe()
        if opened is not None:
            opened[0].release()

    def open(self) -> FrameSource:
        """Open the source and check it yields a frame; raises :class:`SourceError` otherwise."""
        opened = self._probe()
        if opened is not None:
            cap, first = opened
            native = cap.get(cv2.CAP_PROP_FPS) or 0.0
            self.fps = float(native) if 0 < native < 1000 else (25.0 if self.live else self.sequence_fps)
            if self.kind == "sequence":
                self.fps = self.sequence_fps
            self.frame_size = (first.shape[1], first.shape[0])
        self._start_thread(opened)
        return self

    def _start_thread(self, opened: tuple[cv2.VideoCapture, np.ndarray] | None) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(opened,), name=f"source-{self.camera_id}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------ reader thread
    def _put(self, item: Frame | object) -> None:
        with self._cond:
            if item is not _END and self.realtime:
                while len(self._queue) >= self.queue_size:
                    self._queue.popleft()
                    self.stats.frames_dropped += 1
            else:
                while len(self._queue) >= self.queue_size and not self._stop.is_set() and item is not _END:
                    self._cond.wait(0.1)
            self._queue.append(item)
            self._cond.notify_all()

    def _run(self, opened: tuple[cv2.VideoCapture, np.ndarray] | None) -> None:
        try:
            if self.live:
                self._run_live(opened)
            else:
                assert opened is not None
                self._run_file(*opened)
        except BaseException as exc:  # surfaced to the consumer
            self._error = exc
        finally:
            self._put(_END)

    def _run_file(self, cap: cv2.VideoCapture, first: np.ndarray) -> None:
        step = max(1, round(self.fps / self.fps_limit)) if self.fps_limit else 1
        delivered, raw_index, image = 0, 0, first
        clock = DecoderClock(self.fps, use_decoder=self.kind == "file")
        t0 = time.monotonic()
        self._cap = cap
        try:
            while not self._stop.is_set():
                video_ts = clock.stamp(raw_index, cap.get(cv2.CAP_PROP_POS_MSEC))
                if raw_index % step == 0:
                    if self.realtime:
                        wait = t0 + video_ts - time.monotonic()
                        if wait > 0:
                            self._stop.wait(wait)
                    self.stats.frames_read += 1
                    self._put(Frame(raw_index, video_ts, datetime.now(UTC), image))
                    delivered += 1
                    if self.max_frames is not None and delivered >= self.max_frames:
                        return
                ok, image = cap.read()
                if not ok or image is None:
                    return
                raw_index += 1
        finally:
            cap.release()

    def _run_live(self, opened: tuple[cv2.VideoCapture, np.ndarray] | None) -> None:
        index, t0 = 0, time.monotonic()
        min_gap = 1.0 / self.fps_limit if self.fps_limit else 0.0
        last_emit = -1e9
        cap, image = opened if opened else (None, None)
        last_frame_at = datetime.now(UTC)  # an outage starts at the last frame received, not when it is noticed
        outage: tuple[str, datetime, str] | None = None
        if cap is None:
            outage = self._outage_started("stream could not be opened at start")
        attempt = 0
        while not self._stop.is_set():
            if cap is None:
                cap, image, attempt = self._reconnect(attempt)
                if cap is None:
                    continue
                assert outage is not None
                self._outage_ended(outage)
                outage, attempt = None, 0
            if image is None:
                ok, image = cap.read()
                if not ok or image is None:
                    cap.release()
                    cap, image = None, None
                    outage = self._outage_started("stream stopped sending frames", since=last_frame_at)
                    continue
            last_frame_at = datetime.now(UTC)
            now = time.monotonic()
            if now - last_emit >= min_gap:
                last_emit = now
                self.stats.frames_read += 1
                self._put(Frame(index, now - t0, datetime.now(UTC), image))
                index += 1
                if self.max_frames is not None and index >= self.max_frames:
                    break
            image = None
        if cap is not None:
            cap.release()
        if outage is not None:
            self._outage_ended(outage, reason_suffix=" (source closed while down)")

    def _reconnect(self, attempt: int) -> tuple[cv2.VideoCapture | None, np.ndarray | None, int]:
        delay = self.backoff.delay(attempt, self._rng)
        log.info("camera %s: reconnecting to %s in %.2fs (attempt %d)", self.camera_id, self.source, delay, attempt + 1)
        if self._stop.wait(delay):
            return None, None, attempt + 1
        self.stats.reconnects += 1
        cap = self._open_capture()
        if cap.isOpened():
            ok, image = cap.read()
            if ok and image is not None:
                log.info("camera %s: stream back after %d attempt(s)", self.camera_id, attempt + 1)
                return cap, image, attempt
        cap.release()
        return None, None, attempt + 1

    def _outage_started(self, reason: str, since: datetime | None = None) -> tuple[str, datetime, str]:
        started = since or datetime.now(UTC)
        oid = outage_id(self.camera_id, started)
        self.stats.outages += 1
        log.warning("camera %s: outage started: %s", self.camera_id, reason)
        self._emit(OutageEvent(event_id=f"{oid}:started", outage_id=oid, camera_id=self.camera_id,
                               started_at=started, ended_at=None, reason=reason))
        return oid, started, reason

    def _outage_ended(self, outage: tuple[str, datetime, str], reason_suffix: str = "") -> None:
        oid, started, reason = outage
        ended = datetime.now(UTC)
        log.warning("camera %s: outage ended after %.1fs", self.camera_id, (ended - started).total_seconds())
        self._emit(OutageEvent(event_id=f"{oid}:ended", outage_id=oid, camera_id=self.camera_id,
                               started_at=started, ended_at=ended, reason=reason + reason_suffix))

    def _emit(self, event: OutageEvent) -> None:
        if self.on_outage is None:
            return
        try:
            self.on_outage(event)
        except Exception:  # a failing consumer must not kill the reader
            log.exception("camera %s: outage callback failed", self.camera_id)

    # ------------------------------------------------------------------ consumer side
    def __iter__(self) -> Iterator[Frame]:
        if self._thread is None:
            self.open()
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait(0.5)
                item = self._queue.popleft()
                self._cond.notify_all()
            if item is _END:
                if self._error is not None:
                    raise self._error
                return
            assert isinstance(item, Frame)
            yield item

    def close(self, timeout: float | None = None) -> None:
        """Stop the reader thread (waits up to ``timeout`` seconds; default: the I/O timeout + 1 s)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout if timeout is not None else self.io_timeout_s + 1.0)

    def __enter__(self) -> FrameSource:
        if self._thread is None:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(source: str, **kwargs: object) -> FrameSource:
    """Create and open a :class:`FrameSource` (raises :class:`SourceError` on a bad source)."""
    return FrameSource(source, **kwargs).open()  # type: ignore[arg-type]
