"""The bundled ``ppe`` model (vision/weights/ppe.pt): registry entry, labels, and ``missing_ppe`` with ONE model.

Images are chosen by reading the YOLO label files of ``../shared/data/ppe/valid`` (0 helmet, 3 person, 4 vest).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from floorwatch.config import Settings, load_settings, load_zones_file
from floorwatch.schemas.events import AlertEvent
from floorwatch.vision.detections import Detections
from floorwatch.vision.models import MODELS, packaged_weights
from floorwatch.vision.ppe import settings_ppe_problems
from tests.conftest import shared_data
from tests.test_vision_ppe_pipeline import HELMET, PERSON, _config, _labelled, _sequence

VEST = 4


def test_ppe_is_bundled_with_its_training_record() -> None:
    path = packaged_weights("ppe")
    assert path.is_file() and path.parent.name == "weights"
    assert (path.parent / "README.md").is_file() and (path.parent / "ppe_training_results.csv").is_file()
    assert set(MODELS["ppe"].class_map.values()) == {"helmet", "no_helmet", "vest", "no_vest", "person"}


def test_config_accepts_missing_ppe_with_the_ppe_model_alone(tmp_path: Path) -> None:
    settings = load_settings(_config(tmp_path, "{model: ppe, imgsz: 416}"))  # a missing_ppe rule requiring helmet
    assert settings.detector.model == "ppe" and settings.detector.ppe.model is None
    assert settings_ppe_problems(settings) == []


@pytest.fixture(scope="module")
def ppe_detector():  # type: ignore[no-untyped-def]
    from floorwatch.vision.service import apply_runtime, build_detector

    settings = Settings(detector={"model": "ppe", "imgsz": 416, "device": "cpu"}, runtime={"torch_threads": 1})
    apply_runtime(settings)
    return build_detector(settings.detector)


def test_ppe_model_gives_people_and_their_ppe(ppe_detector) -> None:  # type: ignore[no-untyped-def]
    valid = shared_data("ppe", "valid")
    images = _labelled(valid, {PERSON, HELMET, VEST}, set())
    if not images:
        pytest.skip(f"no image in {valid} labelled with person, helmet and vest")
    dets: Detections = ppe_detector.predict([cv2.imread(str(images[0]))])[0]
    assert {"person", "helmet", "vest"} <= set(dets.label), (images[0].name, dets.label)


def test_missing_ppe_fires_with_the_ppe_model_alone(ppe_detector, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from floorwatch.vision.service import replay

    valid = shared_data("ppe", "valid")
    images = _labelled(valid, {PERSON}, {HELMET})
    if not images:
        pytest.skip(f"no image in {valid} labelled with a person and no helmet")
    zones = tmp_path / "zones.yaml"
    zones.write_text("- id: yard\n  rules:\n    - {type: missing_ppe, required: [helmet], min_seconds: 0}\n", encoding="utf-8")
    settings = Settings(media={"dir": tmp_path / "media"}, detector={"model": "ppe", "imgsz": 416, "device": "cpu"})
    events: list[AlertEvent] = []
    seen: list[Detections] = []
    replay(_sequence(images[0], tmp_path, 3), settings, zones=load_zones_file(zones), detector=ppe_detector,
           max_frames=3, store=False, on_event=events.append, on_frame=lambda _f, d: seen.append(d))
    started = [e for e in events if e.rule == "missing_ppe" and e.phase == "started"]
    assert started, f"no missing_ppe alert on {images[0].name}"
    assert all(e.details["missing"] == ["helmet"] and e.zone_id == "yard" for e in started)
    tracked = {int(t) for d in seen for t in np.asarray(d.track_id) if t >= 0}
    assert {e.track_id for e in started} <= tracked
