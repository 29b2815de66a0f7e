"""The one seam between a pipeline and a model: anything that turns frames into detections."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from floorwatch.vision.detections import Detections


class Predictor(Protocol):
    """A detector as the pipeline sees it (:class:`~floorwatch.vision.detector.Detector`,
    :class:`~floorwatch.vision.ppe.PPEDetector`, :class:`~floorwatch.vision.batching.BatchedDetector`,
    a test double).

    ``predict`` takes BGR ``(H, W, 3)`` uint8 frames and returns one :class:`Detections` per frame, in order.
    """

    def predict(self, frames: list[np.ndarray]) -> list[Detections]: ...
