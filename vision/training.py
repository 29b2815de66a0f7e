"""Thin wrappers on ultralytics ``YOLO.export`` / ``YOLO.train``, offline, with clear input errors.

Models are named as in :mod:`floorwatch.vision.models` (``fall``, ``helmet``, ...) or given as a weights
path. Nothing is downloaded: :func:`floorwatch.runtime.configure_offline` runs first, a dataset YAML
is checked before training, and export formats whose tool chain is absent fail up front.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from floorwatch.runtime import default_state_dir
from floorwatch.vision.models import MODELS, ModelNotFoundError, load_yolo, packaged_weights, resolve

EXPORT_FORMATS = ("onnx", "engine")
_EXPORT_SUFFIX = {"onnx": ".onnx", "engine": ".engine"}


class ModelToolError(ValueError):
    """Bad input to ``floorwatch model export|train`` (file, format, machine), with the reason."""


@dataclass(frozen=True)
class ModelStatus:
    """One registry entry and whether its weights are installed here."""

    name: str
    dist: str
    installed: bool
    path: Path | None
    description: str
    problem: str = ""


def model_inventory() -> list[ModelStatus]:
    """Every packaged model, with its weights path when its pip package is installed."""
    rows = []
    for name, entry in sorted(MODELS.items()):
        try:
            path: Path | None = packaged_weights(name)
            problem = ""
        except ModelNotFoundError as exc:
            path, problem = None, str(exc)
        rows.append(ModelStatus(name, entry.dist, path is not None, path, entry.description, problem))
    return rows


def check_export_format(fmt: str, half: bool = False) -> None:
    """Fail early, naming what is missing, when ``fmt`` cannot be exported on this machine.

    Raises:
        ModelToolError: unsupported format, TensorRT without CUDA or ``tensorrt``, ONNX without
            ``onnx``/``onnxslim``/``onnxruntime``, or ``half`` on a machine without CUDA.
    """
    import torch

    if fmt not in EXPORT_FORMATS:
        raise ModelToolError(f"export format {fmt!r} is not supported; choose one of {list(EXPORT_FORMATS)}")
    cuda = torch.cuda.is_available()
    if fmt == "engine":
        if not cuda:
            raise ModelToolError(
                "format 'engine' (TensorRT) needs a CUDA GPU, and torch sees none on this machine; "
                "export to 'onnx' here, or build the engine on the GPU machine that will run it"
            )
        if importlib.util.find_spec("tensorrt") is None:
            raise ModelToolError("format 'engine' needs the 'tensorrt' Python package (pip install tensorrt)")
    if fmt == "onnx":
        missing = [m for m in ("onnx", "onnxslim", "onnxruntime") if importlib.util.find_spec(m) is None]
        if missing:
            raise ModelToolError(f"format 'onnx' needs {missing}: pip install 'floorwatch[export]'")
    if half and not cuda:
        raise ModelToolError("--half (FP16) export needs a CUDA GPU; torch sees none on this machine")


def _model_stem(model: str) -> str:
    return model if model in MODELS else Path(model).stem


def export_model(
    model: str,
    fmt: str,
    imgsz: int = 640,
    half: bool = False,
    out_dir: Path | None = None,
) -> Path:
    """Export a packaged model or weights file to ONNX or a TensorRT engine.

    The weights are first copied into ``out_dir`` (default ``<state dir>/models``) so the export lands
    there and never inside site-packages.

    Args:
        model: Registry name (``fall``, ``helmet``) or path to ``.pt`` weights.
        fmt: ``onnx`` or ``engine``.
        imgsz: Square input size baked into the exported graph (multiple of 32).
        half: FP16 weights (CUDA only).
        out_dir: Folder for the copied weights and the export.

    Returns:
        Path of the exported file.

    Raises:
        ModelToolError: bad format / size / machine.
        ModelNotFoundError: unknown model or missing weights.
    """
    check_export_format(fmt, half)
    if imgsz < 32 or imgsz % 32:
        raise ModelToolError(f"--imgsz must be a positive multiple of 32, got {imgsz}")
    weights, _ = resolve(model)
    out = Path(out_dir or default_state_dir() / "models").resolve()
    out.mkdir(parents=True, exist_ok=True)
    local = out / f"{_model_stem(model)}.pt"
    if weights.resolve() != local:
        shutil.copyfile(weights, local)
    yolo, _ = load_yolo(str(local))
    exported = yolo.export(
        format=fmt, imgsz=imgsz, half=half, device=0 if fmt == "engine" else "cpu", verbose=False
    )
    path = Path(str(exported)) if exported else local.with_suffix(_EXPORT_SUFFIX[fmt])
    if not path.is_file():
        raise ModelToolError(f"export to {fmt!r} reported success but {str(path)!r} was not written")
    return path


def _resolve_split(root: Path, value: Any, key: str, data_yaml: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ModelToolError(f"{data_yaml}: key {key!r} must be a path to an images folder, got {value!r}")
    p = Path(value)
    p = p if p.is_absolute() else root / p
    if not p.exists():
        raise ModelToolError(f"{data_yaml}: {key!r} folder {str(p)!r} does not exist")
    return p.resolve()


def load_dataset_yaml(data_yaml: Path) -> dict[str, Any]:
    """Read and check an ultralytics detection dataset YAML; return it with absolute paths.

    Relative ``train``/``val`` paths are taken relative to ``path`` (itself relative to the YAML's
    folder) or to the YAML's folder when ``path`` is absent, so nothing resolves under ultralytics'
    global datasets folder and nothing is downloaded.

    Raises:
        ModelToolError: missing or unreadable file, or a missing key / folder, naming the file and key.
    """
    data_yaml = Path(data_yaml)
    if not data_yaml.is_file():
        raise ModelToolError(f"dataset file {str(data_yaml)!r} not found")
    try:
        data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelToolError(f"{data_yaml}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelToolError(f"{data_yaml}: expected a mapping with train, val and names")
    names = data.get("names")
    if not names or not isinstance(names, dict | list):
        raise ModelToolError(f"{data_yaml}: key 'names' must list the class names")
    base = Path(data.get("path") or ".")
    root = (base if base.is_absolute() else data_yaml.parent / base).resolve()
    resolved = {k: v for k, v in data.items() if k not in ("path", "download", "test")}
    resolved["path"] = str(root)
    for key in ("train", "val"):
        resolved[key] = str(_resolve_split(root, data.get(key), key, data_yaml))
    return resolved


@contextmanager
def _no_amp_download() -> Iterator[None]:
    """Skip ultralytics' AMP self-test on CUDA: it downloads ``yolo26n.pt`` to compare FP32 and FP16 outputs.

    AMP stays on (``amp=False`` in the overrides turns it off); nothing is fetched.
    """
    import ultralytics.engine.trainer as trainer_module

    original = trainer_module.check_amp
    trainer_module.check_amp = lambda model: True  # type: ignore[assignment]
    try:
        yield
    finally:
        trainer_module.check_amp = original


def train_model(
    data_yaml: Path,
    base: str = "fall",
    epochs: int = 10,
    imgsz: int = 640,
    out_dir: Path = Path("runs/train"),
    name: str = "floorwatch",
    batch: int = 8,
    device: str = "auto",
    workers: int = 2,
    on_epoch: Callable[[int, int], None] | None = None,
    **overrides: Any,
) -> Path:
    """Fine-tune ``base`` on a YOLO-format dataset; returns the best weights file.

    Args:
        data_yaml: Dataset YAML (train, val, names).
        base: Registry name or weights path to start from (its head is re-sized to the dataset's classes).
        epochs: Training epochs.
        imgsz: Square training size (multiple of 32).
        out_dir: Runs folder; the run goes to ``out_dir/name``.
        name: Run name.
        batch: Images per batch.
        device: ``auto``, ``cpu`` or a CUDA index.
        workers: Data-loader workers.
        on_epoch: ``(epochs done, epochs)`` after each epoch (ultralytics ``on_fit_epoch_end``), for progress.
        **overrides: Further ``YOLO.train`` arguments (``time``, ``patience``, augmentation, ...).

    Raises:
        ModelToolError: a bad dataset file, epochs or size.
        ModelNotFoundError: unknown base model.
    """
    if epochs < 1:
        raise ModelToolError(f"--epochs must be >= 1, got {epochs}")
    if imgsz < 32 or imgsz % 32:
        raise ModelToolError(f"--imgsz must be a positive multiple of 32, got {imgsz}")
    data = load_dataset_yaml(data_yaml)
    from floorwatch.vision.detector import pick_device

    run_dir = Path(out_dir).resolve() / name
    run_dir.mkdir(parents=True, exist_ok=True)
    resolved_yaml = run_dir / "data.yaml"
    resolved_yaml.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    yolo, _ = load_yolo(base)
    dev = pick_device(device)
    args: dict[str, Any] = {"plots": False, "amp": dev != "cpu", **overrides}
    if on_epoch is not None:
        yolo.add_callback("on_fit_epoch_end", lambda trainer: on_epoch(trainer.epoch + 1, trainer.epochs))
    with _no_amp_download():
        yolo.train(
            data=str(resolved_yaml),
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            workers=workers,
            device=dev.removeprefix("cuda:"),
            project=str(run_dir.parent),
            name=run_dir.name,
            exist_ok=True,
            verbose=False,
            **args,
        )
    weights_dir = Path(yolo.trainer.save_dir) / "weights"
    for candidate in (weights_dir / "best.pt", weights_dir / "last.pt"):
        if candidate.is_file():
            return candidate
    raise ModelToolError(f"training finished but wrote no weights under {str(weights_dir)!r}")
