"""Test doubles around real vision models."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


class RecordingPredictor:
    """A real predictor, recording how many frames each call got and which thread served it.

    ``detector`` is the wrapped predictor (where :func:`floorwatch.vision.ppe.loaded_labels` finds its labels).
    """

    def __init__(self, detector: Any) -> None:
        self.detector = detector
        self.calls: list[int] = []
        self.threads: set[str] = set()

    def predict(self, frames: list[np.ndarray]) -> list[Any]:
        self.calls.append(len(frames))
        self.threads.add(threading.current_thread().name)
        return self.detector.predict(frames)
