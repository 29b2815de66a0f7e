"""PPE: the YOLOv12-fork checkpoint shim, the packaged ``helmet`` model on real images, accuracy matching."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from floorwatch.runtime import configure_offline
from floorwatch.vision.ppe_metrics import Box, ClassAccuracy, iou_matrix, match_image, read_yolo_labels

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
