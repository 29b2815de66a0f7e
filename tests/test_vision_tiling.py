"""Tiled inference (whole frame + InferenceSlicer tiles): coordinates, merging, and what tiles add."""

from __future__ import annotations

import numpy as np
import pytest

from floorwatch.vision.detections import Detections
from floorwatch.vision.tiling import TiledDetector, merge


class _SeesBigThings:
    """A stand-in model that finds white rectangles only when they span >= 10 % of its input's longer side
    (what a fixed input size does to small people). Records the size of every input."""

    def __init__(self) -> None:
        self.inputs: list[tuple[int, int]] = []

    def predict(self, frames, min_conf=None):  # type: ignore[no-untyped-def]
        out = []
        for f in frames:
            self.inputs.append(f.shape[:2])
            ys, xs = np.nonzero(f[..., 0] == 255)
            if len(xs) == 0 or max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) < 0.1 * max(f.shape[:2]):
                out.append(Detections.empty())
                continue
            out.append(Detections(xyxy=[[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], confidence=[0.9],
                                  class_id=[0], label=["person"]))
        return out


def frame_with(*boxes: tuple[int, int, int, int]) -> np.ndarray:
    img = np.zeros((400, 800, 3), np.uint8)
    for x0, y0, x1, y1 in boxes:
        img[y0:y1, x0:x1] = 255
    return img


def test_tiles_find_a_small_person_the_whole_frame_misses_in_frame_pixels() -> None:
    model = _SeesBigThings()
    img = frame_with((600, 300, 625, 360))  # 60 px high: 7.5 % of 800, missed on the whole frame
    assert len(model.predict([img])[0]) == 0
    (d,) = TiledDetector(model, grid=2).predict([img])
    assert len(d) == 1 and d.xyxy[0].tolist() == [600, 300, 625, 360] and d.label[0] == "person"
    assert len(model.inputs) == 1 + 1 + 4  # the plain call above, then the whole frame and 2x2 tiles


def test_a_person_cut_by_tile_edges_stays_one_whole_frame_box() -> None:
    img = frame_with((300, 100, 500, 300))  # spans all four 2x2 tiles
    (d,) = TiledDetector(_SeesBigThings(), grid=2).predict([img])
    assert d.xyxy.tolist() == [[300, 100, 500, 300]]


def test_merge_keeps_whole_frame_boxes_and_adds_uncovered_tile_boxes_per_kind() -> None:
    whole = Detections(xyxy=[[0, 0, 100, 200]], confidence=[0.6], label=["person"])
    tiles = Detections(
        xyxy=[[0, 0, 100, 90], [10, 0, 40, 30], [300, 0, 340, 80], [302, 2, 342, 82]],
        confidence=[0.9, 0.8, 0.7, 0.6],
        label=["fallen_person", "helmet", "person", "person"],  # a cut part; a helmet on the person; a new person x2
    )
    out = merge(whole, tiles)
    got = sorted(zip(out.label.tolist(), out.xyxy.round().tolist(), strict=True))
    assert got == [("helmet", [10, 0, 40, 30]), ("person", [0, 0, 100, 200]), ("person", [300, 0, 342, 82])]
    assert merge(whole, Detections.empty()) is whole


def test_bad_tiling_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="grid must be >= 2"):
        TiledDetector(_SeesBigThings(), grid=1)
    with pytest.raises(ValueError, match="overlap"):
        TiledDetector(_SeesBigThings(), overlap=0.5)


def test_detector_tiles_setting_builds_a_tiled_detector_of_the_real_model() -> None:
    from pathlib import Path

    import cv2
    import ultralytics

    from floorwatch.config import DetectorConfig
    from floorwatch.runtime import configure_offline, set_threads
    from floorwatch.vision.models import ModelNotFoundError
    from floorwatch.vision.recheck import accepts_min_conf
    from floorwatch.vision.service import build_detector

    configure_offline()
    set_threads(1, 1)
    with pytest.raises(ValueError, match="tiles"):
        DetectorConfig(tiles=0)
    try:
        det = build_detector(DetectorConfig(model="fall", imgsz=320, device="cpu", tiles=2))
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))
    assert isinstance(det, TiledDetector) and det.grid == 2 and det.labels == {0: "person", 1: "fallen_person"}
    assert accepts_min_conf(det)  # person_down's low-confidence re-check passes through the tiles
    img = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    (d,) = det.predict([img])
    people = d.people()
    assert len(people) >= 3 and people.xyxy[:, 3].max() > 800  # frame pixels, not tile pixels
    assert not isinstance(build_detector(DetectorConfig(model="fall", imgsz=320, device="cpu")), TiledDetector)
