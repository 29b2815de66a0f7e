"""Body posture from 17 COCO keypoints (pure functions, no model).

Thresholds and their sources:

* Torso angle (hip midpoint -> shoulder midpoint against the image vertical). Standing and walking keep the
  trunk within about 20-30 deg of vertical; a person lying has it near horizontal. Vision fall detectors
  commonly call a trunk more than 60 deg from vertical "lying" and less than 30-45 deg "upright" (e.g. the
  skeleton-based rules in Lin et al. 2020, "Framework for Fall Detection Based on OpenPose Skeleton and
  LSTM/GRU Models", Applied Sciences 11(1):329, and Solbach & Tsotsos 2017, "Vision-based fallen person
  detection for the elderly", ICCV-W). ``LYING_TORSO_DEG = 60`` and ``UPRIGHT_TORSO_DEG = 30`` follow those.
* Only keypoints with score >= ``MIN_KEYPOINT_SCORE`` (0.3, MoveNet's own demo cut-off) are used; without a
  visible shoulder AND hip the torso angle is unknown (None), never guessed.

On a camera looking straight down the image vertical is not the world vertical, so a torso angle is one
cue among several in :mod:`floorwatch.vision.falls`, never the only one.
"""

from __future__ import annotations

import math

import numpy as np

MIN_KEYPOINT_SCORE = 0.3
LYING_TORSO_DEG = 60.0
UPRIGHT_TORSO_DEG = 30.0
SHOULDERS = (5, 6)
HIPS = (11, 12)


def _mid(kp: np.ndarray, idx: tuple[int, int], min_score: float) -> np.ndarray | None:
    pts = [kp[i, :2] for i in idx if kp[i, 2] >= min_score]
    return np.mean(pts, axis=0) if pts else None


def torso_angle(kp: np.ndarray, min_score: float = MIN_KEYPOINT_SCORE) -> float | None:
    """Angle in degrees (0 = upright, 90 = horizontal) of the hip-to-shoulder line of one pose.

    Args:
        kp: (17, 3) keypoints: x, y (pixels, y down) and score.
        min_score: Keypoints below this score are ignored.

    Returns:
        The angle, or None when no shoulder or no hip is visible, or they coincide.
    """
    if kp.shape != (17, 3):
        raise ValueError(f"keypoints have shape {kp.shape}, expected (17, 3)")
    sh, hip = _mid(kp, SHOULDERS, min_score), _mid(kp, HIPS, min_score)
    if sh is None or hip is None:
        return None
    dx, dy = float(sh[0] - hip[0]), float(hip[1] - sh[1])
    if math.hypot(dx, dy) < 1e-6:
        return None
    return math.degrees(math.atan2(abs(dx), abs(dy))) if dy >= 0 else 180.0 - math.degrees(math.atan2(abs(dx), -dy))


def posture(kp: np.ndarray, min_score: float = MIN_KEYPOINT_SCORE) -> str | None:
    """``"lying"`` (torso >= 60 deg from vertical), ``"upright"`` (<= 30 deg), ``"between"``, or None (unknown).

    A torso more than 90 deg from vertical (upside down: shoulders below hips) counts as lying too.
    """
    angle = torso_angle(kp, min_score)
    if angle is None:
        return None
    angle = round(angle, 6)  # float noise at the 30 / 60 deg boundaries
    if angle >= LYING_TORSO_DEG:
        return "lying"
    if angle <= UPRIGHT_TORSO_DEG:
        return "upright"
    return "between"
