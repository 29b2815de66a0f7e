"""Opt-in live view: the latest annotated frame of each camera, for the dashboard's MJPEG stream.

``floorwatch watch --live-view-fps 2`` gives each camera's pipeline a :class:`LiveViewWriter` frame hook:
at most ``max_fps`` times a second it draws zones, boxes and track ids on a copy of the frame (the same
drawing as the evidence snapshots, faces blurred when ``media.blur_faces``) and replaces
``<media dir>/live/<camera>.jpg`` atomically (temporary file + :func:`os.replace`). The dashboard reads
that file (the media directory is already shared with it for snapshots and clips) and streams it as
``multipart/x-mixed-replace`` behind the token (:mod:`floorwatch.review.live`). Off by default: nothing is
drawn or written then.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from floorwatch.vision.detections import Detections
from floorwatch.vision.evidence import Overlay, annotate
from floorwatch.vision.sources import Frame

log = logging.getLogger(__name__)
LIVE_DIR = "live"


def live_path(media_dir: Path, camera_id: str) -> Path:
    """``<media dir>/live/<camera>.jpg`` (camera ids are slugs: ``ZONE_ID_PATTERN``)."""
    return Path(media_dir) / LIVE_DIR / f"{camera_id}.jpg"


class LiveViewWriter:
    """Frame hook writing the annotated latest frame of one camera at most ``max_fps`` times a second.

    Args:
        media_dir: ``settings.media.dir``.
        camera_id: the camera.
        max_fps: most frames written per second (> 0).
        zones: ``[(zone_id, polygon in pixels)]`` to draw; or set :attr:`pipeline` to read them from its
            zone engines once it has started.
        blur: blur heads first (``media.blur_faces``).
        jpeg_quality: 10..100.
    """

    def __init__(self, media_dir: Path, camera_id: str, max_fps: float = 2.0,
                 zones: list[tuple[str, np.ndarray]] | None = None, blur: bool = False, jpeg_quality: int = 80):
        if max_fps <= 0:
            raise ValueError(f"live view rate {max_fps}: must be > 0 frames per second")
        self.path = live_path(media_dir, camera_id)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.min_gap = 1.0 / max_fps
        self.zones = zones
        self.pipeline: Any = None
        self.blur = blur
        self.quality = jpeg_quality
        self.written = 0
        self._last = -1e9

    def _zones(self) -> list[tuple[str, np.ndarray]]:
        if self.zones is None and self.pipeline is not None and self.pipeline.engines:
            self.zones = [(e.zone_id, e.zone.polygon) for e in self.pipeline.engines if not e.zone.whole_frame]
        return self.zones or []

    def __call__(self, frame: Frame, dets: Detections) -> None:
        now = time.monotonic()
        if now - self._last < self.min_gap:
            return
        self._last = now
        try:
            image = annotate(frame.image, Overlay(dets, self._zones()), blur=self.blur)
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            if not ok:
                return
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=".tmp", dir=self.path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(buf.tobytes())
            os.replace(tmp, self.path)
            self.written += 1
        except OSError as exc:  # a full disk must not stop the camera
            log.warning("live view of %s not written: %s", self.path.stem, exc)
