"""PPE: the YOLOv12-fork checkpoint shim, the packaged ``helmet`` model on real images, accuracy matching."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from floorwatch.runtime import configure_offline
from floorwatch.vision.ppe_metrics import (
    Box,
    ClassAccuracy,
    PersonFlagAccuracy,
    iou_matrix,
    match_image,
    match_people,
    missing_flags,
    predicted_people,
    read_yolo_labels,
)

configure_offline()

REPO = Path(__file__).resolve().parents[1]
PPE_VALID = REPO.parent / "shared" / "data" / "ppe" / "valid"
# Two validation images with labelled helmets (the first also has one labelled no-helmet head).
HELMET_IMAGES = (
    "ppe_0021_jpg.rf.64d91fac2a98c12151f9709a72c42292",
    "ppe_0024_jpg.rf.90ff5b26ededea273809f45f9f6ffa13",
)


# --------------------------------------------------------------------------- shim
def _legacy_aattn(dim: int = 64, num_heads: int = 2, area: int = 4) -> torch.nn.Module:
    """An ``AAttn`` laid out as the YOLOv12 fork pickles it: ``qk`` + ``v`` and a 5x5 ``pe``."""
    from ultralytics.nn.modules.block import AAttn
    from ultralytics.nn.modules.conv import Conv

    torch.manual_seed(0)
    m = AAttn(dim, num_heads, area)
    del m.qkv
    del m.pe, m.proj  # re-added in the fork's order
    m.qk = Conv(dim, dim * 2, 1, act=False)
    m.v = Conv(dim, dim, 1, act=False)
    m.proj = Conv(dim, dim, 1, act=False)
    m.pe = Conv(dim, dim, 5, 1, 2, g=dim, act=False)
    for bn in (mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)):
        bn.running_mean.normal_(0, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.normal_(0, 0.2)
    return m.eval()


def _legacy_forward(m: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The fork's area attention, written independently: heads are consecutive channel blocks of q, k, v."""
    b, c, h, w = x.shape
    a, nh, hd = m.area, m.num_heads, m.head_dim
    qk, v = m.qk(x), m.v(x)
    pos = m.pe(v)

    def heads(t: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B*area, heads, head_dim, pixels/area)
        return t.flatten(2).reshape(b, c, a, h * w // a).permute(0, 2, 1, 3).reshape(b * a, nh, hd, -1)

    q, k, vv = heads(qk[:, :c]), heads(qk[:, c:]), heads(v)
    attn = (torch.einsum("zhdn,zhdm->zhnm", q, k) * hd**-0.5).softmax(-1)
    out = (
        torch.einsum("zhdm,zhnm->zhdn", vv, attn).reshape(b, a, c, -1).permute(0, 2, 1, 3).reshape(b, c, h, w)
    )
    return m.proj(out + pos)


def test_converted_legacy_attention_computes_the_same_function():
    from floorwatch.vision.compat import convert_legacy_aattn

    legacy = _legacy_aattn()
    x = torch.randn(2, 64, 8, 12)
    with torch.no_grad():
        expected = _legacy_forward(legacy, x)
        # a second identical build: deepcopy would go through the installed __setstate__ shim and convert it already
        converted = _legacy_aattn()
        assert convert_legacy_aattn(converted)
        assert "qkv" in converted._modules and "qk" not in converted._modules
        got = converted(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not convert_legacy_aattn(converted)  # idempotent: already current


def test_shim_converts_while_unpickling():
    from floorwatch.vision.compat import install_yolov12_compat

    legacy = _legacy_aattn(dim=64, num_heads=2, area=1)
    x = torch.randn(1, 64, 6, 6)
    with torch.no_grad():
        expected = _legacy_forward(legacy, x)
    buf = io.BytesIO()
    torch.save(legacy, buf)
    install_yolov12_compat()
    install_yolov12_compat()  # twice is harmless
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), expected, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- real helmet model
@pytest.fixture(scope="module")
def helmet_model():
    from floorwatch.vision.models import ModelNotFoundError, load_yolo

    try:
        return load_yolo("helmet")
    except ModelNotFoundError as exc:
        pytest.skip(f"packaged helmet model not installed: {exc}")


def test_helmet_label_map_covers_the_model_classes(helmet_model):
    from floorwatch.vision.detections import KNOWN_LABELS

    model, class_map = helmet_model
    assert set(model.names.values()) == set(class_map)  # every class of the weights is mapped
    assert set(class_map.values()) == {"helmet", "no_helmet"}
    assert set(class_map.values()) <= KNOWN_LABELS


def test_helmet_model_finds_labelled_helmets(helmet_model):
    if not PPE_VALID.is_dir():
        pytest.skip(f"PPE validation data absent at {PPE_VALID}")
    import cv2

    from floorwatch.runtime import set_threads
    from floorwatch.vision.detections import Detections

    set_threads(2, 1)
    model, class_map = helmet_model
    found: dict[str, int] = {"helmet": 0, "no_helmet": 0}
    for stem in HELMET_IMAGES:
        frame = cv2.imread(str(PPE_VALID / "images" / f"{stem}.jpg"))
        assert frame is not None, stem
        h, w = frame.shape[:2]
        truth = read_yolo_labels(PPE_VALID / "labels" / f"{stem}.txt", w, h)
        dets = Detections.from_ultralytics(
            model.predict(frame, imgsz=640, conf=0.35, verbose=False)[0], class_map
        )
        assert set(dets.label) <= {"helmet", "no_helmet"}
        for label in found:
            gt = np.array([b.xyxy for b in truth if b.label == label]).reshape(-1, 4)
            pred = dets.xyxy[dets.label == label]
            if len(gt) and len(pred):
                # the model boxes the whole head, the data only the helmet: overlap, not IoU 0.5
                found[label] += int((iou_matrix(pred, gt).max(axis=0) >= 0.3).sum())
    assert found["helmet"] >= 2
    assert found["no_helmet"] >= 1


# --------------------------------------------------------------------------- matching
def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    b = np.array([[0, 0, 10, 20], [100, 100, 110, 110]])
    np.testing.assert_allclose(iou_matrix(a, b), [[0.5, 0.0], [0.0, 0.0]])


def test_duplicate_prediction_is_a_false_positive_and_label_must_match():
    truth = [Box("helmet", (0, 0, 10, 10))]
    preds = [
        Box("helmet", (0, 0, 10, 10), 0.9),
        Box("helmet", (1, 1, 10, 10), 0.8),
        Box("no_helmet", (0, 0, 10, 10), 0.95),
    ]
    assert match_image(preds, truth, "helmet") == [(0.9, True), (0.8, False)]
    assert match_image(preds, truth, "no_helmet") == [(0.95, False)]
    acc = ClassAccuracy("helmet")
    acc.add(preds, truth, 0.5)
    assert acc.counts(0.85) == (1, 0, 0)
    assert acc.counts(0.5) == (1, 1, 0)
    assert acc.precision_recall(0.5) == (0.5, 1.0)
    assert acc.ap() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("scores_hits", "n_truth", "ap"),
    [
        ([(0.9, False), (0.8, True)], 1, 0.5),
        ([(0.9, True), (0.8, False), (0.7, True)], 2, 0.5 + 0.5 * 2 / 3),
        ([], 3, 0.0),
    ],
)
def test_average_precision(scores_hits, n_truth, ap):
    acc = ClassAccuracy("x", n_truth=n_truth, matches=list(scores_hits))
    assert acc.ap() == pytest.approx(ap)


def test_read_yolo_labels(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("0 0.5 0.5 0.2 0.4\n\n1 0.1 0.1 0.2 0.2\n")
    boxes = read_yolo_labels(f, 100, 50)
    assert [b.label for b in boxes] == ["helmet", "no_helmet"]
    assert boxes[0].xyxy == pytest.approx((40, 15, 60, 35))
    assert read_yolo_labels(tmp_path / "missing.txt", 10, 10) == []
    f.write_text("0 0.5 0.5\n")
    with pytest.raises(ValueError, match=r"a\.txt:1: expected"):
        read_yolo_labels(f, 10, 10)
    f.write_text("9 0.5 0.5 0.1 0.1\n")
    with pytest.raises(ValueError, match="unknown class id 9"):
        read_yolo_labels(f, 10, 10)


# --------------------------------------------------------------------------- person level (missing_ppe)
PERSON = (100.0, 100.0, 200.0, 400.0)  # a standing person, 100 x 300 px


@pytest.mark.parametrize(
    ("ppe", "item", "missing"),
    [
        ([], "helmet", True),  # nothing on the person
        ([Box("helmet", (130, 100, 170, 140))], "helmet", False),  # helmet fully inside the box
        ([Box("helmet", (130, 60, 170, 99))], "helmet", True),  # helmet ABOVE the box, outside it: not worn
        ([Box("helmet", (130, 80, 170, 120))], "helmet", False),  # half inside: counts
        ([Box("helmet", (130, 79, 170, 119))], "helmet", True),  # 19/40 inside: just under half
        ([Box("helmet", (300, 100, 340, 140))], "helmet", True),  # helmet on someone else
        ([Box("helmet", (130, 100, 170, 140)), Box("no_helmet", (140, 110, 160, 130))], "helmet", True),
        ([Box("no_helmet", (130, 100, 170, 140))], "helmet", True),
        ([Box("helmet", (130, 100, 170, 140))], "vest", True),  # a helmet is no vest
        ([Box("vest", (110, 160, 190, 260))], "vest", False),
        ([Box("vest", (110, 160, 190, 260)), Box("no_vest", (110, 160, 190, 260))], "vest", True),
    ],
)
def test_missing_flag_of_one_person(ppe, item, missing):
    assert missing_flags(np.array([PERSON]), ppe, item).tolist() == [missing]


def test_missing_flags_agree_with_the_missing_ppe_rule():
    """The benchmark's flag must be the live rule's condition (vision/rules.py) on the same boxes."""
    from floorwatch.config import MissingPPERule
    from floorwatch.vision.detections import Detections
    from floorwatch.vision.rules import ZoneView, cond_missing_ppe

    rng = np.random.default_rng(7)
    labels = np.array(["helmet", "no_helmet", "vest", "no_vest"], dtype=object)
    for _ in range(50):
        xy = rng.uniform(0, 300, size=(4, 2))
        people = np.concatenate([xy, xy + rng.uniform(40, 200, size=(4, 2))], axis=1)
        c = rng.uniform(0, 400, size=(12, 2))
        half = rng.uniform(5, 40, size=(12, 2))
        ppe_xyxy = np.concatenate([c - half, c + half], axis=1)
        ppe_labels = labels[rng.integers(0, 4, size=12)]
        ppe = [Box(str(lab), tuple(map(float, b))) for lab, b in zip(ppe_labels, ppe_xyxy, strict=True)]
        view = ZoneView(
            people=Detections(
                xyxy=people, label=np.array(["person"] * 4, dtype=object), track_id=np.arange(4)
            ),
            others=Detections(xyxy=ppe_xyxy, label=ppe_labels),
        )
        rule = cond_missing_ppe(view, MissingPPERule(required=["helmet", "vest"]))
        for item in ("helmet", "vest"):
            ours = missing_flags(people, ppe, item)
            theirs = [item in rule.get(t, {}).get("missing", []) for t in range(4)]
            assert ours.tolist() == theirs


@pytest.mark.parametrize(
    ("truth", "pred", "pairs"),
    [
        ([], [(0, 0, 10, 10)], []),
        ([(0, 0, 10, 10)], [], []),
        ([(0, 0, 10, 10)], [(0, 0, 10, 20)], [(0, 0)]),  # IoU exactly 0.5 matches
        ([(0, 0, 10, 10)], [(0, 0, 10, 21)], []),  # IoU < 0.5 does not
        # the best pair first: truth 1 takes prediction 0 (IoU 1), truth 0 then takes prediction 1
        ([(0, 0, 10, 12), (0, 0, 10, 10)], [(0, 0, 10, 10), (0, 0, 10, 13)], [(1, 0), (0, 1)]),
        ([(0, 0, 10, 10)], [(0, 0, 10, 10), (0, 0, 10, 10)], [(0, 0)]),  # one prediction per person
    ],
)
def test_match_people(truth, pred, pairs):
    assert match_people(np.array(truth).reshape(-1, 4), np.array(pred).reshape(-1, 4)) == pairs


def test_predicted_people_thresholds_and_merges_normal_and_fall():
    boxes = [
        Box("person", (0, 0, 100, 300), 0.9),
        Box("fallen_person", (0, 5, 100, 300), 0.6),  # same person, other label: merged away
        Box("fallen_person", (300, 0, 400, 300), 0.5),
        Box("person", (600, 0, 700, 300), 0.2),  # under conf
        Box("helmet", (10, 0, 50, 40), 0.9),  # not a person
    ]
    np.testing.assert_allclose(predicted_people(boxes, 0.35), [[0, 0, 100, 300], [300, 0, 400, 300]])
    assert predicted_people([], 0.35).shape == (0, 4)


def test_person_flag_accuracy_counts_one_image():
    truth = [
        Box("person", (0, 0, 100, 300)),
        Box("helmet", (30, 0, 70, 40)),  # wears a helmet
        Box("person", (200, 0, 300, 300)),  # bare head
        Box("person", (400, 0, 500, 300)),
        Box("no_helmet", (430, 0, 470, 40)),  # labelled no-helmet
        Box("person", (600, 0, 700, 300)),
        Box("helmet", (630, -45, 670, -5)),  # helmet above, not on him
    ]
    pred_people = np.array(
        [
            [0, 0, 100, 300],
            [200, 0, 300, 300],
            [400, 0, 500, 300],  # three found, 4th person missed
            [900, 0, 1000, 300],  # a person no label has
        ]
    )
    pred_ppe = [Box("helmet", (30, 0, 70, 40), 0.8), Box("helmet", (230, 0, 270, 40), 0.7)]
    acc = PersonFlagAccuracy("helmet")
    acc.add(truth, pred_people, pred_ppe)
    assert (acc.persons, acc.labelled_missing, acc.matched) == (4, 3, 3)
    # person 0: ok/ok -> TN; person 1: missing/helmet predicted -> FN; person 2: missing/missing -> TP
    assert (acc.tp, acc.fp, acc.fn, acc.tn) == (1, 0, 1, 1)
    assert (acc.unmatched_pred, acc.unmatched_pred_flagged) == (1, 1)
    assert acc.person_recall == pytest.approx(0.75)
    assert acc.precision_recall_f1() == pytest.approx((1.0, 0.5, 2 / 3))
    acc.add([Box("person", (0, 0, 100, 300)), Box("helmet", (30, 0, 70, 40))], pred_people[:1], [])
    assert (acc.tp, acc.fp, acc.fn, acc.tn) == (1, 1, 1, 1)  # helmet not predicted -> false alarm
    assert PersonFlagAccuracy("vest").precision_recall_f1() == (0.0, 0.0, 0.0)
