"""Detector runtimes: torch, or the same weights exported to ONNX Runtime / OpenVINO (FP32 or INT8) / TensorRT.

``detector.runtime`` picks one; ``auto`` follows one documented rule (:func:`pick_runtime`). Exported models
are made from the weights on first use, offline, with ``ultralytics`` ``export`` and kept in
``<state dir>/models/exports/<stem>-<sha256[:16]>-<imgsz>-<format>-<precision>[-<calibration hash>]/``
(:func:`cached_export`); later processes reuse them. Concurrent first use is safe: each process exports
into its own temporary folder beside the cache and renames it into place (an atomic ``rename(2)``); the
loser of a race deletes its copy and uses the winner's.

Same answers as torch: exports are **dynamic** (height and width free), so ultralytics' predictor letterboxes
an exported model exactly like torch (minimum rectangle, ``rect=True``) instead of padding every frame to a
fixed square; the same predictor applies the same ``conf`` / ``iou`` NMS. (A fixed square export is what made
the exported models find 128 boxes where torch found 145 on 75 frames of ``vtest.avi``: more padding, a
smaller scale for the same ``imgsz``.)

INT8 (``detector.precision: int8``, OpenVINO only) is NNCF post-training quantisation as ultralytics runs it
(mixed preset, detection head kept in floating point), calibrated on up to ``CALIBRATION_FRAMES`` frames
sampled evenly from ``detector.calibration`` (videos and image folders; default the repository's
``sample_media/vtest.avi``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from floorwatch.runtime import configure_offline, default_state_dir

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnxruntime", "openvino", "tensorrt")
#: runtime -> (ultralytics export format, Python module that must import)
EXPORTS = {"onnxruntime": ("onnx", "onnxruntime"), "openvino": ("openvino", "openvino"), "tensorrt": ("engine", "tensorrt")}
#: CPU runtimes in the order ``auto`` prefers them: OpenVINO first (it is the one that runs INT8), then ONNX Runtime.
CPU_PREFERENCE = ("openvino", "onnxruntime")
CALIBRATION_FRAMES = 300
#: A temporary export folder untouched this long (seconds) was left by a killed process and is deleted.
STALE_EXPORT_S = 6 * 3600
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
_REPO = Path(__file__).resolve().parents[1]
DEFAULT_CALIBRATION = (_REPO / "sample_media" / "vtest.avi",)


class RuntimeUnavailableError(RuntimeError):
    """A detector runtime cannot be used here (library missing, wrong device, export failed)."""


def importable(runtime: str) -> bool:
    """True when ``runtime`` is ``torch`` or its Python module can be imported (not imported here)."""
    if runtime == "torch":
        return True
    return importlib.util.find_spec(EXPORTS[runtime][1]) is not None


def pick_runtime(runtime: str, device: str) -> str:
    """The runtime to use for ``detector.runtime`` on ``device`` (``'cpu'`` or ``'cuda:N'``).

    Rule for ``auto``: on CUDA, ``tensorrt`` when the ``tensorrt`` module imports, else ``torch``; on CPU, the
    first importable of ``openvino``, ``onnxruntime`` (:data:`CPU_PREFERENCE`), else ``torch``. Any other value
    is returned unchanged (its problems surface when loading, see :func:`load_runtime_model`).

    Raises:
        ValueError: not ``auto`` or one of :data:`RUNTIMES`.
    """
    if runtime == "auto":
        candidates = ("tensorrt",) if device.startswith("cuda") else CPU_PREFERENCE
        return next((r for r in candidates if importable(r)), "torch")
    if runtime not in RUNTIMES:
        raise ValueError(f"detector.runtime {runtime!r} is not one of {('auto', *RUNTIMES)}")
    return runtime


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def calibration_fingerprint(sources: Sequence[Path]) -> str:
    """Short hash of the calibration sources (resolved path, size, mtime of each file) for the cache key."""
    h = hashlib.sha256()
    for f in sorted(_calibration_files(sources)):
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{int(st.st_mtime)}\n".encode())
    return h.hexdigest()[:12]


def _calibration_files(sources: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for src in sources:
        src = Path(src).expanduser().resolve()
        if src.is_dir():
            files += sorted(p for p in src.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
        elif src.is_file():
            files.append(src)
        else:
            raise RuntimeUnavailableError(f"detector.calibration: {str(src)!r} does not exist")
    if not files:
        raise RuntimeUnavailableError(f"detector.calibration: no images or videos in {[str(s) for s in sources]}")
    return files


def calibration_frames(sources: Sequence[Path], n: int = CALIBRATION_FRAMES) -> list[Any]:
    """Up to ``n`` BGR frames spread evenly over ``sources`` (image files / folders and videos).

    Raises:
        RuntimeUnavailableError: a source is missing, unreadable, or none gives a frame.
    """
    import cv2

    files = _calibration_files(sources)
    images = [f for f in files if f.suffix.lower() in _IMAGE_SUFFIXES]
    videos = [f for f in files if f.suffix.lower() not in _IMAGE_SUFFIXES]
    n_images = min(len(images), n if not videos else n // 2)
    frames: list[Any] = []
    for k, v in enumerate(videos):
        quota = (n - n_images - len(frames)) // (len(videos) - k)
        cap = cv2.VideoCapture(str(v))
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for i in range(quota):
            cap.set(cv2.CAP_PROP_POS_FRAMES, i * total // max(1, quota))
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
        cap.release()
    for f in images[:: max(1, len(images) // max(1, n - len(frames)))][: n - len(frames)]:
        img = cv2.imread(str(f))
        if img is not None:
            frames.append(img)
    if not frames:
        raise RuntimeUnavailableError(f"detector.calibration: no readable frame in {[str(s) for s in sources]}")
    return frames


def _write_calibration_set(folder: Path, sources: Sequence[Path], names: dict[int, str]) -> Path:
    """Frames of ``sources`` as JPEGs plus an ultralytics dataset YAML (no labels: calibration needs none)."""
    import cv2
    import yaml

    images = folder / "images"
    images.mkdir(parents=True)
    for i, img in enumerate(calibration_frames(sources)):
        cv2.imwrite(str(images / f"{i:05d}.jpg"), img)
    data = folder / "calibration.yaml"
    data.write_text(yaml.safe_dump({"path": str(folder), "train": "images", "val": "images", "names": names}))
    return data


def cached_export(
    weights: Path,
    runtime: str,
    imgsz: int,
    *,
    precision: str = "fp32",
    calibration: Sequence[Path] = (),
    state_dir: Path | None = None,
    batch: int = 1,
) -> Path:
    """Path of ``weights`` exported for ``runtime`` (made once, then reused; see the module docstring).

    Args:
        weights: ``.pt`` ultralytics weights.
        runtime: ``onnxruntime``, ``openvino`` or ``tensorrt``.
        imgsz: Input size (pixels, multiple of 32) the export is traced at; the graph stays dynamic.
        precision: ``fp32``; ``int8`` (OpenVINO only); ``fp16`` (TensorRT only).
        calibration: INT8 calibration videos / image folders (default :data:`DEFAULT_CALIBRATION`).
        state_dir: Cache root (default :func:`~floorwatch.runtime.default_state_dir`).
        batch: Largest batch a TensorRT engine accepts.

    Returns:
        The exported file (``.onnx``, ``.engine``) or OpenVINO model folder.

    Raises:
        RuntimeUnavailableError: unsupported runtime/precision pair, or the export failed (message has the cause).
    """
    if runtime not in EXPORTS:
        raise RuntimeUnavailableError(f"runtime {runtime!r} has no export (one of {sorted(EXPORTS)})")
    fmt = EXPORTS[runtime][0]
    if precision == "int8" and runtime != "openvino":
        raise RuntimeUnavailableError(f"precision int8 is supported with runtime openvino only, not {runtime!r}")
    if precision == "fp16" and runtime != "tensorrt":
        raise RuntimeUnavailableError(f"precision fp16 is supported with runtime tensorrt only, not {runtime!r}")
    weights = Path(weights).resolve()
    sources = [Path(s) for s in calibration] or list(DEFAULT_CALIBRATION)
    key = f"{weights.stem}-{sha256_file(weights)[:16]}-{imgsz}-{fmt}-{precision}"
    if precision == "int8":
        key += f"-{calibration_fingerprint(sources)}"
    root = Path(state_dir or default_state_dir()) / "models" / "exports"
    dest = root / key
    found = _cached(dest)
    if found is not None:
        return found
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f".{key}.*"):  # left by a killed export (SIGKILL/SIGTERM skip cleanup)
        if time.time() - stale.stat().st_mtime > STALE_EXPORT_S:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        exported = _export(weights, tmp, fmt, imgsz, precision, sources, batch)
        (tmp / "manifest.json").write_text(
            json.dumps({"weights": str(weights), "runtime": runtime, "imgsz": imgsz, "precision": precision,
                        "file": str(exported.relative_to(tmp))}, indent=1)
        )
        try:
            os.rename(tmp, dest)
        except OSError:  # another process renamed its export into place first: use that one
            if _cached(dest) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    found = _cached(dest)
    assert found is not None
    return found


def _cached(dest: Path) -> Path | None:
    manifest = dest / "manifest.json"
    if not manifest.is_file():
        return None
    path = dest / json.loads(manifest.read_text())["file"]
    return path if path.exists() else None


def _export(weights: Path, tmp: Path, fmt: str, imgsz: int, precision: str, sources: list[Path], batch: int) -> Path:
    configure_offline()
    from ultralytics import YOLO

    local = tmp / f"{weights.stem}.pt"
    shutil.copyfile(weights, local)  # the export lands beside the weights: here, never in site-packages
    model = YOLO(str(local), task="detect")
    kwargs: dict[str, Any] = {"format": fmt, "imgsz": imgsz, "dynamic": True, "batch": batch, "verbose": False}
    kwargs["device"] = 0 if fmt == "engine" else "cpu"
    if precision == "int8":
        kwargs.update(int8=True, data=str(_write_calibration_set(tmp / "calibration", sources, dict(model.names))))
    if precision == "fp16":
        kwargs["half"] = True
    try:
        out = model.export(**kwargs)
    except Exception as exc:  # noqa: BLE001 - exporters raise many types; the caller falls back to torch
        raise RuntimeUnavailableError(f"export of {weights.name} to {fmt} ({precision}) failed: {exc}") from exc
    path = Path(str(out)) if out else None
    if path is None or not path.exists():
        raise RuntimeUnavailableError(f"export of {weights.name} to {fmt} reported success but wrote no {path}")
    shutil.rmtree(tmp / "calibration", ignore_errors=True)
    local.unlink()
    return path


def load_runtime_model(
    weights: Path, runtime: str, imgsz: int, *, precision: str = "fp32", calibration: Sequence[Path] = (),
    batch: int = 1, threads: int | None = None,
) -> Any:
    """An ultralytics ``YOLO`` over the export of ``weights`` for ``runtime`` (see :func:`cached_export`).

    OpenVINO models compute in FP32 (not the CPU plugin's bfloat16 default) on ``threads`` threads (None =
    OpenVINO's choice); see :func:`_pin_openvino`.

    Raises:
        RuntimeUnavailableError: the runtime's library is not installed, the export or the load failed.
    """
    if runtime not in EXPORTS:
        raise RuntimeUnavailableError(f"runtime {runtime!r} has no export (one of {sorted(EXPORTS)})")
    if not importable(runtime):
        raise RuntimeUnavailableError(
            f"the Python module {EXPORTS[runtime][1]!r} is not installed (pip install 'floorwatch[cpu]')"
        )
    path = cached_export(weights, runtime, imgsz, precision=precision, calibration=calibration, batch=batch)
    configure_offline()
    from ultralytics import YOLO

    try:
        model = YOLO(str(path), task="detect")
        if runtime == "openvino":
            _pin_openvino(model, path, imgsz, threads)
        return model
    except Exception as exc:  # noqa: BLE001
        raise RuntimeUnavailableError(f"could not load {str(path)!r}: {exc}") from exc


def _pin_openvino(model: Any, path: Path, imgsz: int, threads: int | None) -> None:
    """Recompile ultralytics' OpenVINO model with FP32 arithmetic and ``threads`` CPU threads.

    OpenVINO's CPU plugin computes an FP32 model in bfloat16 by default wherever the CPU has AVX512_BF16 / AMX
    (OpenVINO docs, "Precision Control"); that moved boxes enough to change alerts on ``vtest.avi``. Ultralytics
    compiles with a fixed config, so the predictor is set up with one blank frame and its model recompiled.
    """
    import numpy as np
    import openvino as ov

    model.predict(np.zeros((imgsz, imgsz, 3), dtype=np.uint8), imgsz=imgsz, device="cpu", verbose=False)
    backend = model.predictor.model.backend
    compile_model = backend.compile_model
    config = {**compile_model.keywords.get("config", {}), "INFERENCE_PRECISION_HINT": ov.Type.f32}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compile_model = partial(compile_model.func, *compile_model.args, **{**compile_model.keywords, "config": config})
    xml = path if path.is_file() else next(path.glob("*.xml"))
    backend.compile_model = compile_model
    backend.ov_compiled_model = compile_model(ov.Core().read_model(str(xml)))
