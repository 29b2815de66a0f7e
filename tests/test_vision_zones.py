"""Zones and the Detections value (pure, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from floorwatch.vision.detections import Detections, class_agnostic_nms, share_inside
from floorwatch.vision.zones import FRAME_ZONE_ID, PolygonZone, default_zones

WH = (640, 480)


def boxes(*xyxy: list[float]) -> Detections:
    return Detections(xyxy=list(xyxy), label=["person"] * len(xyxy))


@pytest.mark.parametrize(
    "polygon",
    [
        [(0, 0), (320, 0), (320, 480), (0, 480)],  # pixels
        [(0, 0), (0.5, 0), (0.5, 1), (0, 1)],  # normalised
    ],
)
def test_pixel_and_normalised_polygons_agree(polygon):
    zone = PolygonZone(polygon, WH)
    d = boxes([10, 10, 50, 100], [400, 10, 450, 100], [300, 10, 330, 100])  # feet at x=30, 425, 315
    assert zone.contains(d).tolist() == [True, False, True]


def test_membership_is_by_bottom_centre():
    zone = PolygonZone([(0, 200), (640, 200), (640, 480), (0, 480)], WH)  # lower part of the image
    d = boxes([100, 150, 140, 300], [100, 50, 140, 190], [200, 10, 600, 210])  # feet in / out / in
    assert d.bottom_center().tolist() == [[120, 300], [120, 190], [400, 210]]
    assert zone.contains(d).tolist() == [True, False, True]


def test_polygon_with_a_coordinate_above_one_is_pixels():
    zone = PolygonZone([(0, 0), (1, 0), (1, 1.5), (0, 1.5)], WH)  # a tiny pixel polygon, not normalised
    assert zone.contains(boxes([0, 0, 1, 1], [100, 100, 200, 300])).tolist() == [True, False]


def test_none_polygon_is_whole_frame_and_mask():
    zone = PolygonZone(None, WH)
    assert zone.contains(boxes([0, 0, 10, 480], [600, 0, 640, 470])).tolist() == [True, True]
    assert zone.mask().shape == (480, 640) and zone.mask().all()
    half = PolygonZone([(0, 0), (0.5, 0), (0.5, 1), (0, 1)], WH).mask()
    assert half.mean() == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    ("polygon", "wh", "message"),
    [
        ([(0, 0), (1, 1)], WH, "at least 3 points"),
        ([(0, 0), (10, 10), (20, 20)], WH, "no area"),
        ([(0, 0), (1, 0), (1, 1)], (0, 480), "positive"),
    ],
)
def test_bad_zone_is_a_clear_error(polygon, wh, message):
    with pytest.raises(ValueError, match=message):
        PolygonZone(polygon, wh)


def test_default_zone_is_whole_frame_person_down():
    (z,) = default_zones()
    assert z.zone_id == FRAME_ZONE_ID and z.polygon is None and [r.type for r in z.rules] == ["person_down"]


def test_empty_detections_and_contains():
    zone = PolygonZone(None, WH)
    assert len(Detections.empty()) == 0 and zone.contains(Detections.empty()).shape == (0,)


# --------------------------------------------------------------------------- Detections
def test_detections_index_mask_merge():
    d = Detections(xyxy=[[0, 0, 10, 10], [5, 5, 20, 30]], confidence=[0.9, 0.4], label=["person", "helmet"])
    assert d.track_id.tolist() == [-1, -1] and d.xyxy.dtype == np.float32
    assert d[d.confidence > 0.5].label.tolist() == ["person"]
    assert d[1].label.tolist() == ["helmet"] and len(d[[]]) == 0
    m = Detections.merge([d, Detections.empty(), d[0]])
    assert m.label.tolist() == ["person", "helmet", "person"]
    assert d.people().label.tolist() == ["person"] and d.with_label("helmet").confidence.tolist() == [
        pytest.approx(0.4)
    ]
    with pytest.raises(IndexError, match="mask"):
        d[np.array([True])]
    with pytest.raises(ValueError, match="rows"):
        Detections(xyxy=[[0, 0, 1, 1]], confidence=[0.1, 0.2])
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        Detections(xyxy=[[0, 0, 1]])


def test_share_inside_and_class_agnostic_nms():
    person = np.array([[100, 100, 200, 400]], dtype=np.float32)
    ppe = np.array([[130, 100, 170, 140], [180, 100, 220, 140], [400, 0, 410, 10]], dtype=np.float32)
    assert share_inside(ppe, person)[:, 0].tolist() == pytest.approx([1.0, 0.5, 0.0])
    # one person seen as Normal (0.8) and Fall (0.6): one box stays, with the more confident label
    d = Detections(
        xyxy=[[100, 100, 200, 400], [102, 105, 200, 398], [300, 100, 400, 400]],
        confidence=[0.6, 0.8, 0.5],
        label=["fallen_person", "person", "person"],
    )
    kept = class_agnostic_nms(d, 0.6)
    assert kept.label.tolist() == ["person", "person"] and kept.confidence.tolist() == pytest.approx(
        [0.8, 0.5]
    )
