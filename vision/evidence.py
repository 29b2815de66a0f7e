"""Alert evidence: a ring buffer of recent frames, annotated snapshots and short clips.

Snapshots and clips go under ``media.dir/<camera>/<YYYY-MM-DD>/`` and the AlertEvent carries their paths
relative to the media dir. Drawing always works on a copy of the frame. With ``media.blur_faces`` the top
~20 % of every person box (the head) is blurred before anything is written.

Annotating and encoding happen on ONE background writer thread per recorder (:class:`EvidenceWriter`), never
on the inference thread: a ``started`` event carries its snapshot path at once and the JPEG appears there
shortly after (a failed write is logged and counted in ``EvidenceWriter.failed``). Clip frames wait in a
bounded queue; when it is full, new clip frames are dropped and counted (``frames_dropped``) rather than
slowing inference. Snapshots and clip open/close jobs are never dropped. ``EvidenceRecorder.close()``
finishes every clip and waits for the writer, so all evidence of a run is on disk when it returns.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from floorwatch.config import MediaConfig
from floorwatch.schemas.events import AlertEvent
from floorwatch.vision.detections import PERSON_LABELS, Detections
from floorwatch.vision.sources import Frame

log = logging.getLogger(__name__)

HEAD_SHARE = 0.2
_ZONE_COLOR = (0, 200, 255)
_BOX_COLOR = (60, 220, 60)
_ALERT_COLOR = (0, 0, 255)
_MAX_BUFFER_FRAMES = 600
DEFAULT_MAX_PENDING_FRAMES = 120


@dataclass(frozen=True)
class Overlay:
    """What to draw on a frame: detections (with track ids) and zone polygons (pixels)."""

    detections: Detections
    zones: Sequence[tuple[str, np.ndarray]] = ()
    highlight_track: int | None = None


def blur_heads(image: np.ndarray, dets: Detections, share: float = HEAD_SHARE) -> np.ndarray:
    """Blur the top ``share`` of every person box, IN PLACE on ``image`` (pass a copy). Returns ``image``."""
    h, w = image.shape[:2]
    for (x1, y1, x2, y2), _, _, label, _ in dets:
        if label not in PERSON_LABELS:
            continue
        xa, xb = max(0, int(x1)), min(w, int(np.ceil(x2)))
        ya = max(0, int(y1))
        yb = min(h, int(np.ceil(y1 + share * (y2 - y1))))
        if xb - xa < 2 or yb - ya < 2:
            continue
        roi = image[ya:yb, xa:xb]
        k = max(3, (min(roi.shape[:2]) // 2) | 1)
        image[ya:yb, xa:xb] = cv2.GaussianBlur(roi, (k, k), 0)
    return image


def annotate(image: np.ndarray, overlay: Overlay, blur: bool = False) -> np.ndarray:
    """A COPY of ``image`` with zone polygons, boxes and track ids drawn (heads blurred first if ``blur``)."""
    out = image.copy()
    if blur:
        blur_heads(out, overlay.detections)
    for zone_id, poly in overlay.zones:
        pts = np.asarray(poly, dtype=np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, _ZONE_COLOR, 2)
        x, y = pts[0, 0]
        cv2.putText(out, zone_id, (int(x) + 4, int(y) + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, _ZONE_COLOR, 1)
    for (x1, y1, x2, y2), conf, _, label, tid in overlay.detections:
        color = _ALERT_COLOR if overlay.highlight_track is not None and tid == overlay.highlight_track else _BOX_COLOR
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), color, 2)
        text = f"#{tid} {label} {conf:.2f}" if tid >= 0 else f"{label} {conf:.2f}"
        cv2.putText(out, text, (int(x1), max(12, int(y1) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1)
    return out


class FrameRing:
    """The last ``seconds`` of frames (with their overlays), bounded in count too."""

    def __init__(self, seconds: float, max_frames: int = _MAX_BUFFER_FRAMES):
        self.seconds = seconds
        self._items: deque[tuple[Frame, Overlay]] = deque(maxlen=max_frames)

    def push(self, frame: Frame, overlay: Overlay) -> None:
        """Add a frame and forget those older than ``seconds`` before it."""
        self._items.append((frame, overlay))
        while self._items and frame.video_ts - self._items[0][0].video_ts > self.seconds:
            self._items.popleft()

    def frames(self) -> list[tuple[Frame, Overlay]]:
        """Buffered frames, oldest first."""
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


class EvidenceWriter:
    """A single background thread running evidence jobs (annotate, encode, write) in submission order.

    Args:
        max_pending_frames: Most clip frames waiting to be written; a clip frame submitted beyond that is
            dropped and counted. Snapshots and clip open/finish jobs are always queued (one per alert).
        name: Name of the thread (logs, debuggers).
    """

    def __init__(self, max_pending_frames: int = DEFAULT_MAX_PENDING_FRAMES, name: str = "evidence-writer"):
        self.max_pending_frames = max(1, max_pending_frames)
        self.name = name
        self.frames_dropped = 0
        self.failed = 0
        self._jobs: deque[tuple[Callable[[], None], bool]] = deque()
        self._pending_frames = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Jobs not run yet."""
        with self._cond:
            return len(self._jobs)

    def submit(self, job: Callable[[], None], clip_frame: bool = False) -> bool:
        """Queue ``job``; never blocks. Returns False when a clip frame was dropped (queue full) or closed."""
        with self._cond:
            if self._closed:
                if clip_frame:
                    self.frames_dropped += 1
                    return False
                raise RuntimeError(f"{self.name} is closed")
            if clip_frame and self._pending_frames >= self.max_pending_frames:
                self.frames_dropped += 1
                return False
            self._jobs.append((job, clip_frame))
            self._pending_frames += clip_frame
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify()
            return True

    def close(self, timeout: float | None = None) -> None:
        """Run every queued job, then stop the thread (waits up to ``timeout`` seconds; None = until done)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.error("%s: %d evidence jobs still pending after %s s", self.name, self.pending, timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                job, clip_frame = self._jobs.popleft()
                self._pending_frames -= clip_frame
            try:
                job()
            except Exception:  # one bad write must not stop the evidence of later alerts
                self.failed += 1
                log.exception("%s: evidence job failed", self.name)


@dataclass
class _Clip:
    alert_id: str
    path: Path
    writer: cv2.VideoWriter
    end_ts: float
    size: tuple[int, int]
    frames: int = 0


@dataclass
class EvidenceRecorder:
    """Writes snapshots and clips for started alerts of one camera, on a background :class:`EvidenceWriter`.

    The inference thread only keeps the ring buffer and decides which frame goes to which clip; drawing,
    encoding and writing run on the writer thread.

    Args:
        media: Media settings (dir, pre/post seconds, blur, JPEG quality).
        camera_id: Camera the evidence belongs to (first folder level).
        fps: Frame rate the clips are written at.
        zones: Zone polygons in pixels, drawn on every evidence frame.
        max_pending_frames: Clip frames the writer may fall behind by before new ones are dropped.
    """

    media: MediaConfig
    camera_id: str
    fps: float
    zones: Sequence[tuple[str, np.ndarray]] = ()
    max_pending_frames: int = DEFAULT_MAX_PENDING_FRAMES
    ring: FrameRing = field(init=False)
    writer: EvidenceWriter = field(init=False)
    _clips: list[_Clip] = field(default_factory=list, init=False)
    written: list[Path] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.ring = FrameRing(self.media.clip_pre_seconds)
        self.fps = self.fps if self.fps > 0 else 10.0
        self.writer = EvidenceWriter(self.max_pending_frames, name=f"evidence-{self.camera_id}")

    @property
    def open_clips(self) -> int:
        """Clips still being written."""
        return len(self._clips)

    @property
    def frames_dropped(self) -> int:
        """Clip frames dropped because the writer thread was behind."""
        return self.writer.frames_dropped

    def push(self, frame: Frame, dets: Detections) -> None:
        """Record one processed frame: extend open clips and the pre-alert ring buffer."""
        overlay = Overlay(dets, self.zones)
        self.ring.push(frame, overlay)
        for clip in list(self._clips):
            if frame.video_ts > clip.end_ts:
                self._finish(clip)
            else:
                self._queue_frame(clip, frame, overlay)

    def attach(self, event: AlertEvent, frame: Frame, dets: Detections) -> AlertEvent:
        """For a ``started`` alert: queue its snapshot, open its clip and return the event with both paths.

        Other phases are returned unchanged. Call after :meth:`push` of the same frame. The snapshot file
        is written by the writer thread shortly after this returns (at the latest by :meth:`close`).
        """
        if event.phase != "started":
            return event
        rel_dir = Path(self.camera_id) / event.occurred_at.strftime("%Y-%m-%d")
        (Path(self.media.dir) / rel_dir).mkdir(parents=True, exist_ok=True)
        name = _safe_name(event.alert_id)
        overlay = Overlay(dets, self.zones, highlight_track=event.track_id)
        snap_rel = rel_dir / f"{name}.jpg"
        self.writer.submit(lambda: self._write_snapshot(Path(self.media.dir) / snap_rel, frame.image, overlay))
        clip_rel = self._open_clip(event, frame, rel_dir / f"{name}.mp4")
        return event.model_copy(update={"snapshot": snap_rel.as_posix(), "clip": clip_rel})

    def _write_snapshot(self, path: Path, image: np.ndarray, overlay: Overlay) -> None:
        snap = annotate(image, overlay, blur=self.media.blur_faces)
        if not cv2.imwrite(str(path), snap, [cv2.IMWRITE_JPEG_QUALITY, self.media.jpeg_quality]):
            raise OSError(f"could not write snapshot {path}")
        self.written.append(path)

    def _open_clip(self, event: AlertEvent, frame: Frame, rel: Path) -> str | None:
        if self.media.clip_pre_seconds + self.media.clip_post_seconds <= 0:
            return None
        path = Path(self.media.dir) / rel
        h, w = frame.image.shape[:2]
        # Opened here (cheap) so a failure leaves the event without a clip path instead of a dangling one.
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        if not writer.isOpened():
            log.error("could not open clip writer %s", path)
            return None
        clip = _Clip(event.alert_id, path, writer, frame.video_ts + self.media.clip_post_seconds, (w, h))
        for old_frame, overlay in self.ring.frames():  # pre-alert seconds, the current frame included
            self._queue_frame(clip, old_frame, overlay)
        self._clips.append(clip)
        return rel.as_posix()

    def _queue_frame(self, clip: _Clip, frame: Frame, overlay: Overlay) -> None:
        self.writer.submit(lambda: self._write(clip, frame, overlay), clip_frame=True)

    def _write(self, clip: _Clip, frame: Frame, overlay: Overlay) -> None:
        image = annotate(frame.image, overlay, blur=self.media.blur_faces)
        if (image.shape[1], image.shape[0]) != clip.size:
            image = cv2.resize(image, clip.size)
        clip.writer.write(image)
        clip.frames += 1

    def _finish(self, clip: _Clip) -> None:
        self._clips.remove(clip)
        self.writer.submit(lambda: self._release(clip))

    def _release(self, clip: _Clip) -> None:
        clip.writer.release()
        self.written.append(clip.path)
        log.debug("clip %s: %d frames", clip.path, clip.frames)

    def close(self, timeout: float | None = None) -> None:
        """Finish every open clip and wait until the writer has written all queued evidence."""
        for clip in list(self._clips):
            self._finish(clip)
        self.writer.close(timeout)
        if self.writer.frames_dropped:
            log.warning("camera %s: %d clip frames dropped (evidence writer behind)", self.camera_id,
                        self.writer.frames_dropped)


def _safe_name(alert_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in alert_id)[:120]
