"""PPE from a second model: merge and label filtering, the missing_ppe config check, and the real two-model
pipeline (packaged ``fall`` for people + packaged ``helmet`` for PPE) on real ``ppe/valid`` images.

Images are chosen by reading their YOLO label files (class 0 helmet, 1 no-helmet, 3 person), never by name.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from floorwatch.config import (
    CameraConfig,
    ConfigError,
    DetectorConfig,
    Settings,
    load_settings,
    load_zones_file,
)
from floorwatch.schemas.events import AlertEvent
from floorwatch.vision.detections import PERSON_LABELS, Detections, share_inside
from floorwatch.vision.ppe import PPERuleError, PPEStage, keep_labels, merge_ppe, settings_ppe_problems
from tests.conftest import shared_data
from tests.vision_factories import RecordingPredictor

HELMET, NO_HELMET, PERSON = 0, 1, 3  # classes of the ppe dataset's label files
FALL_TO_PERSON_ONLY = "detector.model 'fall' gives only [person, fallen_person]"


# --------------------------------------------------------------------------- pure logic
def _dets(labels: list[str], track_ids: list[int] | None = None) -> Detections:
    n = len(labels)
    boxes = np.array([[10 * i, 0, 10 * i + 8, 20] for i in range(n)], dtype=np.float32).reshape(-1, 4)
    return Detections(xyxy=boxes, confidence=np.linspace(0.9, 0.5, n), label=np.array(labels, dtype=object),
                      track_id=track_ids)


def test_merge_keeps_tracked_people_and_only_the_configured_ppe_labels() -> None:
    people = _dets(["person", "fallen_person"], track_ids=[7, 9])
    ppe = _dets(["helmet", "vest", "person", "no_helmet", "no_vest"], track_ids=[3, 3, 3, 3, 3])
    merged = merge_ppe(people, ppe, ["helmet", "no_helmet", "person"])
    assert merged.label.tolist() == ["person", "fallen_person", "helmet", "no_helmet"]
    assert merged.track_id.tolist() == [7, 9, -1, -1]  # PPE boxes are never tracked
    np.testing.assert_array_equal(merged.xyxy[2:], ppe.xyxy[[0, 3]])
    assert len(keep_labels(ppe, ["person", "fallen_person"])) == 0  # people only come from the main model
    assert len(merge_ppe(people, Detections.empty(), ["helmet"])) == 2


class _CountingPredictor:
    """A predictor whose n-th call returns n helmet boxes (to tell fresh boxes from reused ones)."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, frames: list[np.ndarray]) -> list[Detections]:
        self.calls += 1
        return [_dets(["helmet"] * self.calls + ["person"]) for _ in frames]


def test_every_n_frames_reuses_the_latest_ppe_boxes_in_between() -> None:
    predictor = _CountingPredictor()
    stage = PPEStage(predictor, every_n_frames=3, labels=["helmet"])
    counts = [len(stage.detect(np.zeros((8, 8, 3), np.uint8))) for _ in range(7)]
    assert counts == [1, 1, 1, 2, 2, 2, 3]  # model ran on frames 0, 3 and 6
    assert predictor.calls == stage.calls == 3
    with pytest.raises(ValueError, match="every_n_frames"):
        PPEStage(predictor, every_n_frames=0)


# --------------------------------------------------------------------------- config check
def _config(tmp_path: Path, detector: str, required: str = "[helmet]") -> Path:
    path = tmp_path / "floorwatch.yaml"
    path.write_text(
        f"detector: {detector}\n"
        "cameras:\n"
        "  - id: line1\n"
        "    source: line1.mp4\n"
        "    zones:\n"
        "      - zone_id: press_line\n"
        "        rules:\n"
        "          - type: dwell\n"
        "          - type: missing_ppe\n"
        f"            required: {required}\n",
        encoding="utf-8",
    )
    return path


def test_config_check_names_zone_rule_and_the_model_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(_config(tmp_path, "{model: fall}"))
    (problem,) = err.value.problems
    assert problem.startswith(f"{tmp_path / 'floorwatch.yaml'}:9: cameras.0.zones.0.rules.1: ")
    assert (
        "zone 'press_line': rule missing_ppe requires 'helmet' but detector.model 'fall' gives only "
        "[person, fallen_person]; set detector.ppe.model: ppe" in problem  # the first registered model that gives helmet
    )
    ok = load_settings(_config(tmp_path, "{model: fall, ppe: {model: helmet, every_n_frames: 2}}"))
    assert ok.detector.ppe.model == "helmet" and ok.detector.ppe.every_n_frames == 2
    assert settings_ppe_problems(Settings(detector={"model": "helmet"}, cameras=ok.cameras)) == []


@pytest.mark.parametrize(
    ("detector", "required", "expected"),
    [
        ("{ppe: {model: helmet}}", "[helmet, vest]", "requires 'vest' but"),
        ("{ppe: {model: helmet, labels: [no_helmet]}}", "[helmet]", "add helmet to detector.ppe.labels"),
        ("{ppe: {model: helmet, labels: [helmet, person]}}", "[helmet]", "cannot be PPE labels"),
    ],
)
def test_config_check_rejects_ppe_sections_that_cannot_serve_the_rule(
    tmp_path: Path, detector: str, required: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_settings(_config(tmp_path, detector, required))


# --------------------------------------------------------------------------- real models
def _labelled(valid: Path, want: set[int], absent: set[int]) -> list[Path]:
    """Images whose YOLO label file has every class of ``want`` and none of ``absent``."""
    out = []
    for label_file in sorted((valid / "labels").glob("*.txt")):
        classes = {int(line.split()[0]) for line in label_file.read_text().splitlines() if line.strip()}
        image = valid / "images" / f"{label_file.stem}.jpg"
        if want <= classes and not classes & absent and image.is_file():
            out.append(image)
    return out


@pytest.fixture(scope="module")
def models():  # type: ignore[no-untyped-def]
    """The packaged ``fall`` detector and the packaged ``helmet`` PPE detector, on CPU, one torch thread."""
    from floorwatch.vision.models import ModelNotFoundError
    from floorwatch.vision.service import apply_runtime, build_detector, build_ppe_detector

    apply_runtime(Settings(runtime={"torch_threads": 1, "opencv_threads": 1}))
    cfg = DetectorConfig(model="fall", device="cpu", ppe={"model": "helmet"})
    try:
        return build_detector(cfg), build_ppe_detector(cfg)
    except ModelNotFoundError as exc:
        pytest.skip(f"model package missing: {exc}")


def _sequence(image: Path, tmp_path: Path, frames: int) -> str:
    img = cv2.imread(str(image))
    assert img is not None, image
    for i in range(frames):
        cv2.imwrite(str(tmp_path / f"frame{i:03d}.png"), img)
    return str(tmp_path / "frame%03d.png")


def _replay(tmp_path: Path, source: str, models, frames: int):  # type: ignore[no-untyped-def]
    from floorwatch.vision.service import replay

    zones_file = tmp_path / "zones.yaml"
    zones_file.write_text("- id: press_line\n  rules:\n    - {type: missing_ppe, min_seconds: 0}\n", encoding="utf-8")
    settings = Settings(media={"dir": tmp_path / "media"}, detector={"model": "fall", "ppe": {"model": "helmet"}})
    events: list[AlertEvent] = []
    seen: list[Detections] = []
    replay(source, settings, zones=load_zones_file(zones_file), detector=models[0], ppe_detector=models[1],
           max_frames=frames, store=False, on_event=events.append, on_frame=lambda _f, d: seen.append(d))
    return events, seen


def test_people_come_from_the_main_model_and_helmet_boxes_from_the_ppe_model(models, tmp_path: Path) -> None:
    valid = shared_data("ppe", "valid")
    candidates = _labelled(valid, {PERSON, HELMET, NO_HELMET}, set())
    if not candidates:
        pytest.skip(f"no image in {valid} labelled with person, helmet and no-helmet")
    fall, helmet = models
    image = cv2.imread(str(candidates[0]))
    own_ppe = helmet.predict([image])[0]
    assert len(own_ppe) > 0, f"helmet model found nothing on {candidates[0].name}"
    assert set(fall.predict([image])[0].label) <= PERSON_LABELS  # the main model alone gives no PPE

    events, seen = _replay(tmp_path, _sequence(candidates[0], tmp_path, 2), models, frames=2)
    assert len(seen) == 2
    for dets in seen:
        people = dets[np.isin(dets.label, list(PERSON_LABELS))]
        ppe = dets[~np.isin(dets.label, list(PERSON_LABELS))]
        assert len(people) > 0 and (people.track_id > 0).all()
        assert set(ppe.label) <= {"helmet", "no_helmet"} and (ppe.track_id == -1).all()
        np.testing.assert_allclose(ppe.xyxy, own_ppe.xyxy, atol=0.5)  # exactly the PPE model's boxes
        assert ppe.label.tolist() == own_ppe.label.tolist()
    # The PPE boxes reach the rule: a person wearing a helmet box (and no no_helmet box) is not alerted.
    people = seen[0][seen[0].track_id >= 0]
    on = {lab: (share_inside(seen[0].with_label(lab).xyxy, people.xyxy) >= 0.5).any(axis=0)
          for lab in ("helmet", "no_helmet")}
    helmeted = {int(t) for t, h, n in zip(people.track_id, on["helmet"], on["no_helmet"], strict=True) if h and not n}
    assert helmeted, f"the helmet model put no helmet box on any person of {candidates[0].name}"
    alerted = {e.track_id for e in events if e.rule == "missing_ppe" and e.phase == "started"}
    assert not helmeted & alerted


def test_missing_ppe_fires_for_a_person_labelled_without_helmet(models, tmp_path: Path) -> None:
    valid = shared_data("ppe", "valid")
    candidates = _labelled(valid, {PERSON}, {HELMET})
    if not candidates:
        pytest.skip(f"no image in {valid} labelled with a person and no helmet")
    events, seen = _replay(tmp_path, _sequence(candidates[0], tmp_path, 3), models, frames=3)
    started = [e for e in events if e.rule == "missing_ppe" and e.phase == "started"]
    assert started, f"no missing_ppe alert on {candidates[0].name}"
    tracked = {int(t) for d in seen for t in d.track_id if t >= 0}
    for event in started:
        assert event.zone_id == "press_line" and event.track_id in tracked
        assert event.details["missing"] == ["helmet"]


def test_building_a_pipeline_without_a_ppe_model_names_the_problem(models, tmp_path: Path) -> None:
    from floorwatch.vision.pipeline import VisionPipeline

    zones_file = tmp_path / "zones.yaml"
    zones_file.write_text("- id: press_line\n  rules:\n    - {type: missing_ppe}\n", encoding="utf-8")
    cv2.imwrite(str(tmp_path / "frame000.png"), np.zeros((48, 64, 3), np.uint8))
    camera = CameraConfig(id="line1", source=str(tmp_path / "frame%03d.png"), zones=load_zones_file(zones_file))
    with pytest.raises(PPERuleError, match=r"zone 'press_line': rule missing_ppe requires 'helmet' but ") as err:
        VisionPipeline(camera, models[0], Settings(), lambda _e: None)
    assert FALL_TO_PERSON_ONLY in str(err.value) and "set detector.ppe.model: ppe" in str(err.value)
    VisionPipeline(camera, models[0], Settings(), lambda _e: None, ppe_detector=models[1])  # served: no error


def test_watch_runs_the_ppe_model_for_every_camera_through_its_own_batcher(models, tmp_path: Path) -> None:
    from floorwatch.vision.service import watch

    valid = shared_data("ppe", "valid")
    candidates = _labelled(valid, {PERSON}, {HELMET})
    if not candidates:
        pytest.skip(f"no image in {valid} labelled with a person and no helmet")
    source = _sequence(candidates[0], tmp_path, 2)
    zones = [{"zone_id": "press_line", "rules": [{"type": "missing_ppe", "min_seconds": 0}]}]
    settings = Settings(
        database={"url": f"sqlite:///{tmp_path / 'fw.db'}"},
        media={"dir": tmp_path / "media"},
        detector={"model": "fall", "batch": 2, "ppe": {"model": "helmet"}},
        cameras=[{"id": cam, "source": source, "zones": zones} for cam in ("cam-a", "cam-b")],
    )
    ppe = RecordingPredictor(models[1])
    events: list[AlertEvent] = []
    lock = threading.Lock()

    def on_event(e: AlertEvent) -> None:
        with lock:
            events.append(e)

    results = watch(settings, detector=models[0], ppe_detector=ppe, max_frames=2, on_event=on_event)
    assert {cam: s.frames for cam, s in results.items()} == {"cam-a": 2, "cam-b": 2}
    assert sum(ppe.calls) == 4 and max(ppe.calls) <= 2 and ppe.threads == {"batched-ppe-detector"}
    started = {e.camera_id for e in events if e.rule == "missing_ppe" and e.phase == "started"}
    assert started == {"cam-a", "cam-b"}
