"""Alert evidence: a ring buffer of recent frames, annotated snapshots and short clips.

Snapshots and clips go under ``media.dir/<camera>/<YYYY-MM-DD>/`` and the AlertEvent carries their paths
relative to the media dir. Drawing always works on a copy of the frame. With ``media.blur_faces`` the top
~20 % of every person box (the head) is blurred before anything is written.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
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
    """Writes snapshots and clips for started alerts of one camera.

    Args:
        media: Media settings (dir, pre/post seconds, blur, JPEG quality).
        camera_id: Camera the evidence belongs to (first folder level).
        fps: Frame rate the clips are written at.
        zones: Zone polygons in pixels, drawn on every evidence frame.
    """

    media: MediaConfig
    camera_id: str
    fps: float
    zones: Sequence[tuple[str, np.ndarray]] = ()
    ring: FrameRing = field(init=False)
    _clips: list[_Clip] = field(default_factory=list, init=False)
    written: list[Path] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.ring = FrameRing(self.media.clip_pre_seconds)
        self.fps = self.fps if self.fps > 0 else 10.0

    @property
    def open_clips(self) -> int:
        """Clips still being written."""
        return len(self._clips)

    def push(self, frame: Frame, dets: Detections) -> None:
        """Record one processed frame: extend open clips and the pre-alert ring buffer."""
        overlay = Overlay(dets, self.zones)
        self.ring.push(frame, overlay)
        for clip in list(self._clips):
            if frame.video_ts > clip.end_ts:
                self._finish(clip)
            else:
                self._write(clip, frame, overlay)

    def attach(self, event: AlertEvent, frame: Frame, dets: Detections) -> AlertEvent:
        """For a ``started`` alert: write its snapshot, open its clip and return the event with both paths.

        Other phases are returned unchanged. Call after :meth:`push` of the same frame.
        """
        if event.phase != "started":
            return event
        rel_dir = Path(self.camera_id) / event.occurred_at.strftime("%Y-%m-%d")
        out_dir = Path(self.media.dir) / rel_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        name = _safe_name(event.alert_id)
        overlay = Overlay(dets, self.zones, highlight_track=event.track_id)
        snap = annotate(frame.image, overlay, blur=self.media.blur_faces)
        snap_rel = rel_dir / f"{name}.jpg"
        if not cv2.imwrite(str(self.media.dir / snap_rel), snap, [cv2.IMWRITE_JPEG_QUALITY, self.media.jpeg_quality]):
            log.error("could not write snapshot %s", self.media.dir / snap_rel)
            snap_rel = None  # type: ignore[assignment]
        else:
            self.written.append(self.media.dir / snap_rel)
        clip_rel = self._open_clip(event, frame, rel_dir / f"{name}.mp4")
        return event.model_copy(
            update={"snapshot": snap_rel.as_posix() if snap_rel else None, "clip": clip_rel}
        )

    def _open_clip(self, event: AlertEvent, frame: Frame, rel: Path) -> str | None:
        if self.media.clip_pre_seconds + self.media.clip_post_seconds <= 0:
            return None
        path = Path(self.media.dir) / rel
        h, w = frame.image.shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        if not writer.isOpened():
            log.error("could not open clip writer %s", path)
            return None
        clip = _Clip(event.alert_id, path, writer, frame.video_ts + self.media.clip_post_seconds, (w, h))
        for old_frame, overlay in self.ring.frames():  # pre-alert seconds, the current frame included
            self._write(clip, old_frame, overlay)
        self._clips.append(clip)
        return rel.as_posix()

    def _write(self, clip: _Clip, frame: Frame, overlay: Overlay) -> None:
        image = annotate(frame.image, overlay, blur=self.media.blur_faces)
        if (image.shape[1], image.shape[0]) != clip.size:
            image = cv2.resize(image, clip.size)
        clip.writer.write(image)
        clip.frames += 1

    def _finish(self, clip: _Clip) -> None:
        clip.writer.release()
        self._clips.remove(clip)
        self.written.append(clip.path)
        log.debug("clip %s: %d frames", clip.path, clip.frames)

    def close(self) -> None:
        """Finish every open clip (end of stream)."""
        for clip in list(self._clips):
            self._finish(clip)


def _safe_name(alert_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in alert_id)[:120]
