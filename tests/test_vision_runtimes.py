"""Detector runtimes (#17): the auto rule, the export cache, same people as torch, fallback, calibration frames.

Real exports of the packaged ``fall`` model (ONNX takes seconds; OpenVINO a few more); exports live in the
test state dir (``var/test-state``) so later runs reuse them, except where a test needs a fresh cache.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from floorwatch.config import DetectorConfig
from floorwatch.vision.detections import box_iou
from floorwatch.vision.models import ModelNotFoundError, packaged_weights
from floorwatch.vision.ppe import ppe_detector_config
from floorwatch.vision.runtimes import (
    CPU_PREFERENCE,
    STALE_EXPORT_S,
    RuntimeUnavailableError,
    cached_export,
    calibration_frames,
    importable,
    pick_runtime,
    sha256_file,
)

REPO = Path(__file__).resolve().parents[1]
VTEST = REPO / "sample_media" / "vtest.avi"
IMGSZ = 416  # the replay tests' size: their exports are in the test state dir already
EXPORTED = [r for r in ("onnxruntime", "openvino") if importable(r)]


@pytest.fixture(scope="module")
def weights() -> Path:
    try:
        return packaged_weights("fall")
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST))
    out = []
    for i in range(0, 400, 10):  # 40 frames spread over the walk, people in most
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, img = cap.read()
        assert ok
        out.append(img)
    return out


@pytest.fixture(scope="module")
def torch_detector():
    from floorwatch.runtime import set_threads
    from floorwatch.vision.detector import Detector

    set_threads(2, 1)
    return Detector(DetectorConfig(model="fall", imgsz=IMGSZ, conf=0.25, device="cpu"))


def test_auto_rule_and_explicit_runtimes() -> None:
    preferred = next((r for r in CPU_PREFERENCE if importable(r)), "torch")
    assert pick_runtime("auto", "cpu") == preferred
    assert pick_runtime("auto", "cuda:0") == ("tensorrt" if importable("tensorrt") else "torch")
    assert [pick_runtime(r, "cpu") for r in ("torch", "onnxruntime", "openvino")] == ["torch", "onnxruntime", "openvino"]
    with pytest.raises(ValueError, match="'tflite'"):
        pick_runtime("tflite", "cpu")


def test_ppe_model_follows_the_detector_runtime() -> None:
    cfg = DetectorConfig(runtime="openvino", precision="int8", ppe={"model": "ppe", "imgsz": 416})
    inner = ppe_detector_config(cfg)
    assert inner is not None and (inner.model, inner.imgsz, inner.runtime, inner.precision) == (
        "ppe", 416, "openvino", "int8"
    )


@pytest.mark.skipif("onnxruntime" not in EXPORTED, reason="onnxruntime is not installed")
def test_export_is_made_once_keyed_by_weights_hash_and_reused(weights: Path, tmp_path: Path) -> None:
    key = f"{weights.stem}-{sha256_file(weights)[:16]}-320-onnx-fp32"
    stale = tmp_path / "models" / "exports" / f".{key}.killed"  # a temporary folder of a killed export
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - STALE_EXPORT_S - 60,) * 2)
    path = cached_export(weights, "onnxruntime", 320, state_dir=tmp_path)
    folder = path.parent
    assert not stale.exists()
    assert path.suffix == ".onnx" and path.is_file()
    assert folder.parent == tmp_path / "models" / "exports"
    assert folder.name == key
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["imgsz"] == 320 and manifest["runtime"] == "onnxruntime"
    mtime = path.stat().st_mtime_ns
    assert cached_export(weights, "onnxruntime", 320, state_dir=tmp_path) == path
    assert path.stat().st_mtime_ns == mtime  # reused, not re-exported
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no temporary folder left
    assert not list(folder.glob("*.pt"))  # the weights copy used for exporting is not kept


@pytest.mark.skipif("onnxruntime" not in EXPORTED, reason="onnxruntime is not installed")
def test_concurrent_first_use_gives_one_export(weights: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from floorwatch.vision.runtimes import cached_export; "
        "print(cached_export(Path(sys.argv[1]), 'onnxruntime', 256, state_dir=Path(sys.argv[2])))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(weights), str(tmp_path)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    paths = {o.strip().splitlines()[-1] for o, _ in outs}
    assert len(paths) == 1 and Path(paths.pop()).is_file()
    assert len(list((tmp_path / "models" / "exports").iterdir())) == 1  # the loser's temporary copy is gone


@pytest.mark.parametrize("runtime", EXPORTED)
def test_exported_runtime_finds_the_same_people_as_torch(torch_detector, frames, runtime: str) -> None:
    """Dynamic exports letterbox like torch (rect), so boxes agree closely, frame by frame."""
    from floorwatch.vision.detector import Detector

    det = Detector(DetectorConfig(model="fall", imgsz=IMGSZ, conf=0.25, device="cpu", runtime=runtime))
    assert (det.runtime, det.fallback) == (runtime, "")
    assert det.labels == torch_detector.labels
    n_torch = n_other = matched = 0
    for img in frames:
        (a,) = torch_detector.predict([img])
        (b,) = det.predict([img])
        n_torch, n_other = n_torch + len(a), n_other + len(b)
        if len(a) and len(b):
            iou = box_iou(a.xyxy, b.xyxy)
            same_label = a.label[:, None] == b.label[None, :]
            matched += int(((iou >= 0.9) & same_label).any(axis=1).sum())
    assert n_torch >= 30  # people in most frames
    assert abs(n_other - n_torch) <= 0.02 * n_torch, (n_torch, n_other)
    assert matched >= 0.97 * n_torch, (matched, n_torch)


@pytest.mark.slow
@pytest.mark.skipif("openvino" not in EXPORTED, reason="openvino is not installed")
def test_int8_finds_nearly_the_same_people_as_torch(torch_detector, frames) -> None:  # type: ignore[no-untyped-def]
    """INT8 (NNCF, calibrated on vtest.avi) is an approximation: boxes agree at IoU 0.5, counts within 10 %."""
    from floorwatch.vision.detector import Detector

    det = Detector(DetectorConfig(model="fall", imgsz=IMGSZ, conf=0.25, device="cpu", runtime="openvino",
                                  precision="int8"))
    assert (det.runtime, det.fallback) == ("openvino", "")
    n_torch = n_int8 = matched = 0
    for img in frames:
        (a,) = torch_detector.predict([img])
        (b,) = det.predict([img])
        n_torch, n_int8 = n_torch + len(a), n_int8 + len(b)
        if len(a) and len(b):
            matched += int((box_iou(a.xyxy, b.xyxy) >= 0.5).any(axis=1).sum())
    assert abs(n_int8 - n_torch) <= 0.1 * n_torch, (n_torch, n_int8)
    assert matched >= 0.9 * n_torch, (matched, n_torch)


def test_unsupported_runtime_falls_back_to_torch_with_a_warning(caplog) -> None:  # type: ignore[no-untyped-def]
    from floorwatch.vision.detector import Detector

    with caplog.at_level(logging.WARNING, logger="floorwatch.vision.detector"):
        det = Detector(DetectorConfig(model="fall", imgsz=320, device="cpu", runtime="onnxruntime", precision="int8"))
    assert det.runtime == "torch"
    assert "int8" in det.fallback and "openvino only" in det.fallback
    assert any("falling back to torch" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_missing_model_is_an_error_not_a_fallback() -> None:
    from floorwatch.vision.detector import Detector

    with pytest.raises(ModelNotFoundError, match="nothing.pt"):
        Detector(DetectorConfig(model="/nonexistent/nothing.pt", device="cpu", runtime="onnxruntime"))


def test_calibration_frames_spread_over_a_video_and_bad_sources(tmp_path: Path) -> None:
    got = calibration_frames([VTEST], n=12)
    assert len(got) == 12 and all(f.shape == (576, 768, 3) for f in got)
    assert len({f.tobytes()[:: 997] for f in got}) == 12  # 12 different frames, not one repeated
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.jpg"), np.full((64, 80, 3), 40 * i, np.uint8))
    assert len(calibration_frames([images], n=10)) == 3
    mixed = calibration_frames([VTEST, images], n=10)
    assert len(mixed) == 10 and sum(f.shape == (64, 80, 3) for f in mixed) == 3
    with pytest.raises(RuntimeUnavailableError, match="missing.avi"):
        calibration_frames([tmp_path / "missing.avi"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RuntimeUnavailableError, match="no images or videos"):
        calibration_frames([tmp_path / "empty"])
