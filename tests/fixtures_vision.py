"""The packaged ``fall`` detector and ultralytics' own sample image, shared by the vision tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def fall_model():  # type: ignore[no-untyped-def]
    """The packaged ``fall`` YOLO weights (offline, 1 torch thread); skips with the reason when not installed."""
    from floorwatch.runtime import configure_offline, set_threads
    from floorwatch.vision.models import ModelNotFoundError, load_yolo

    configure_offline()
    set_threads(1, 1)
    try:
        model, _ = load_yolo("fall")
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))
    return model


@pytest.fixture(scope="session")
def bus() -> np.ndarray:
    """ultralytics' ``bus.jpg`` (1080 x 810 BGR): a street with several people."""
    import cv2
    import ultralytics

    img = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    assert img is not None and img.shape == (1080, 810, 3)
    return img
