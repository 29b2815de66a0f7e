"""Zones as one camera sees them: a polygon in the image and a membership test on detections."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import supervision as sv

from floorwatch.config import CameraZoneConfig, PersonDownRule
from floorwatch.vision.detections import Detections

#: Zone id given to the whole frame when a camera has no zone configured.
FRAME_ZONE_ID = "frame"


class PolygonZone:
    """A polygon in one camera's image.

    Args:
        polygon: Points in pixels, or normalised 0..1 when every coordinate is within [0, 1];
            ``None`` means the whole frame.
        frame_wh: ``(width, height)`` of the frames this zone is applied to.

    Raises:
        ValueError: when the frame size is not positive or the polygon has fewer than 3 points or no area.
    """

    def __init__(self, polygon: Sequence[tuple[float, float]] | None, frame_wh: tuple[int, int]):
        w, h = int(frame_wh[0]), int(frame_wh[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"frame size must be positive, got {frame_wh}")
        self.frame_wh = (w, h)
        self.whole_frame = polygon is None
        if polygon is None:
            pts = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
        else:
            pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
            if len(pts) < 3:
                raise ValueError(f"a polygon needs at least 3 points, got {len(pts)}")
            if np.all((pts >= 0) & (pts <= 1)):
                pts = pts * np.array([w, h], dtype=np.float32)
            if abs(cv2.contourArea(pts)) <= 0:
                raise ValueError(f"polygon has no area: {polygon}")
        self.polygon = pts
        self._mask: np.ndarray | None = None
        # supervision's zone: a filled-polygon mask looked up at the anchor points (vectorised).
        self._zone = (
            None
            if self.whole_frame
            else sv.PolygonZone(polygon=pts, triggering_anchors=(sv.Position.BOTTOM_CENTER,))
        )

    def contains_points(self, points: np.ndarray) -> np.ndarray:
        """``(N,)`` bool: which ``(N, 2)`` pixel points lie inside (or on the edge of) the polygon.

        Uses ``supervision.PolygonZone`` (points rounded to the nearest pixel of the polygon's filled mask).
        """
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        if self.whole_frame:
            w, h = self.frame_wh
            return (points[:, 0] >= 0) & (points[:, 0] <= w) & (points[:, 1] >= 0) & (points[:, 1] <= h)
        assert self._zone is not None
        # A point is the bottom centre of a zero-size box at it.
        return self._zone.trigger(sv.Detections(xyxy=np.hstack([points, points])))

    def contains(self, dets: Detections) -> np.ndarray:
        """``(N,)`` bool mask: detections whose bottom-centre (feet) lies in the zone."""
        if len(dets) == 0:
            return np.zeros(0, dtype=bool)
        return self.contains_points(dets.bottom_center())

    def mask(self) -> np.ndarray:
        """``(H, W)`` bool mask of the zone's pixels (cached)."""
        if self._mask is None:
            w, h = self.frame_wh
            m = np.zeros((h, w), dtype=np.uint8)
            cv2.fillPoly(m, [np.round(self.polygon).astype(np.int32)], 1)
            self._mask = m.astype(bool)
        return self._mask


def default_zones() -> list[CameraZoneConfig]:
    """Zones of a camera with none configured: the whole frame, watched by ``person_down``."""
    return [CameraZoneConfig(zone_id=FRAME_ZONE_ID, polygon=None, rules=[PersonDownRule()])]
