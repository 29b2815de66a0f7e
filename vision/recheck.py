"""Low-confidence boxes for ``person_down``: one inference, split at the detector's ``conf``.

A person lying on the floor is often still found by the detector, only with a score below ``detector.conf``.
The pipeline asks the detector for boxes down to ``detector.recheck_conf`` (same model call: NMS keeps the
higher-scoring of two overlapping boxes, so the confident boxes are unchanged), gives the confident ones to
the tracker as before and hands the person boxes below ``conf`` to the fall logic, where they only keep an
existing down hypothesis (:func:`floorwatch.vision.falls.low_recheck`).
"""

from __future__ import annotations

import inspect
from typing import Any

from floorwatch.config import CameraConfig, PersonDownRule, Settings
from floorwatch.vision.detections import Detections


def recheck_conf_for(camera: CameraConfig, settings: Settings, predictor: Any) -> float | None:
    """The ``min_conf`` to ask ``predictor`` for, or None (off: ``recheck_conf >= conf``, no ``person_down`` rule
    on the camera, or a predictor whose ``predict`` takes no ``min_conf``)."""
    cfg = settings.detector
    wants = not camera.zones or any(isinstance(r, PersonDownRule) for z in camera.zones for r in z.rules)
    if not wants or cfg.recheck_conf >= cfg.conf:
        return None
    return cfg.recheck_conf if accepts_min_conf(predictor) else None


def accepts_min_conf(predictor: Any) -> bool:
    """Whether ``predictor.predict`` takes ``min_conf``, through wrappers that pass it on
    (:class:`~floorwatch.vision.batching.BatchedDetector` ``.detector``, the telemetry wrapper's ``_inner``)."""
    for _ in range(8):  # wrappers nest a few levels at most
        try:
            if "min_conf" not in inspect.signature(predictor.predict).parameters:
                return False
        except (TypeError, ValueError, AttributeError):
            return False
        attrs = vars(predictor) if hasattr(predictor, "__dict__") else {}
        inner = attrs.get("_inner") or attrs.get("detector")
        if inner is None:
            return True
        predictor = inner
    return False


def split_low(dets: Detections, conf: float) -> tuple[Detections, Detections]:
    """``(boxes scored above conf, person boxes at or below it)`` of one frame's detections (``>`` as
    ultralytics' NMS filters, so the first part equals a plain ``predict`` at ``conf``)."""
    if len(dets) == 0:
        return dets, Detections.empty()
    high = dets.confidence > conf
    low = dets[~high]
    return dets[high], low.people() if len(low) else low
