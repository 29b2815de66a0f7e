"""A thin detector over ``YOLO.predict``: device choice, runtime (torch / exported), FP16 on CUDA, batching, labels."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from floorwatch.config import DetectorConfig
from floorwatch.vision.detections import Detections
from floorwatch.vision.models import MODELS, load_yolo, resolve
from floorwatch.vision.runtimes import RuntimeUnavailableError, load_runtime_model, pick_runtime

log = logging.getLogger(__name__)


def pick_device(device: str) -> str:
    """``'auto'`` -> ``'cuda:0'`` when CUDA is available, else ``'cpu'``; anything else as given.

    Raises:
        RuntimeError: CUDA was asked for explicitly but is not available.
    """
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not torch.cuda.is_available():
        raise RuntimeError(f"detector.device {device!r} asks for CUDA, but torch sees no CUDA device")
    return f"cuda:{device}" if device.isdigit() else device


def _torch_threads() -> int:
    """The process's torch thread count (set from ``runtime.torch_threads``), reused by exported runtimes."""
    import torch

    return torch.get_num_threads()


class Detector:
    """Run one detection model on batches of frames.

    Args:
        cfg: Model, input size, thresholds, device, FP16 and extra class mapping. ``cfg.class_map``
            overrides / extends the packaged model's map (model label -> Floorwatch label).
        model: An already loaded ultralytics model of ``cfg.model`` (tests, or one model shared by several
            detectors); its packaged class map is still applied and ``cfg.runtime`` is not applied.

    Attributes:
        runtime: The runtime actually running (``torch``, ``onnxruntime``, ``openvino``, ``tensorrt``;
            ``preloaded`` for a given ``model``). A runtime that cannot load falls back to ``torch`` with a
            WARNING log line naming the cause; ``fallback`` then holds that cause (else ``""``).
    """

    def __init__(self, cfg: DetectorConfig, model: Any | None = None):
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        self.half = bool(cfg.half and self.device.startswith("cuda"))
        self.fallback = ""
        if model is None:
            model, packaged_map, self.runtime = self._load(cfg)
        else:
            entry = MODELS.get(cfg.model)
            packaged_map = dict(entry.class_map) if entry else {}
            self.runtime = "preloaded"
        self.model = model
        self.class_map: dict[str, str] = {**packaged_map, **cfg.class_map}
        names = getattr(model, "names", {}) or {}
        self.names: dict[int, str] = dict(names)
        self.labels: dict[int, str] = {i: self.class_map.get(n, n.lower()) for i, n in self.names.items()}

    def _load(self, cfg: DetectorConfig) -> tuple[Any, dict[str, str], str]:
        runtime = pick_runtime(cfg.runtime, self.device)
        if runtime != "torch":
            weights, packaged_map = resolve(cfg.model)  # a missing model is an error, not a fallback
            precision = "fp16" if runtime == "tensorrt" and self.half else cfg.precision
            try:
                model = load_runtime_model(
                    weights, runtime, cfg.imgsz, precision=precision, calibration=cfg.calibration, batch=cfg.batch,
                    threads=_torch_threads(),
                )
                return model, packaged_map, runtime
            except RuntimeUnavailableError as exc:
                self.fallback = f"detector.runtime {runtime!r} ({precision}) for {cfg.model!r} unavailable: {exc}"
                log.warning("%s; falling back to torch (results may differ slightly)", self.fallback)
        model, packaged_map = load_yolo(cfg.model)
        return model, packaged_map, "torch"

    def predict(self, frames: list[np.ndarray], min_conf: float | None = None) -> list[Detections]:
        """Detect on several frames (e.g. one per camera) in ONE model call; boxes in each frame's own pixels.

        The caller decides the batch (the pipeline gathers up to ``cfg.batch`` frames from its cameras).

        Args:
            frames: BGR ``uint8`` images, any sizes.
            min_conf: Keep boxes down to this confidence instead of ``cfg.conf`` (the pipeline's
                ``person_down`` re-check; the boxes at or above ``cfg.conf`` are the same either way: NMS
                keeps the higher-scoring of two overlapping boxes).

        Raises:
            ValueError: a frame is not an ``(H, W, 3)`` uint8 image.
        """
        if not frames:
            return []
        for i, f in enumerate(frames):
            if not isinstance(f, np.ndarray) or f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
                desc = f"{type(f).__name__} {getattr(f, 'shape', '')} {getattr(f, 'dtype', '')}".strip()
                raise ValueError(f"frame {i}: expected an (H, W, 3) uint8 BGR image, got {desc}")
        results = self.model.predict(
            frames,
            imgsz=self.cfg.imgsz,
            conf=self.cfg.conf if min_conf is None else min(min_conf, self.cfg.conf),
            iou=self.cfg.iou,
            device=self.device,
            half=self.half,
            verbose=False,
        )
        return [Detections.from_ultralytics(r, self.class_map) for r in results]

    def warmup(self, shape: tuple[int, int] = (480, 640)) -> None:
        """Run one blank frame so the first real frame is not slowed by lazy initialisation."""
        self.predict([np.zeros((*shape, 3), dtype=np.uint8)])
