"""PPE from a second model: the ``detector.ppe`` detector, its per-camera stage and the label checks.

The main model (``detector.model``, e.g. the packaged ``fall`` model) gives the people, which are tracked.
A PPE model (``detector.ppe.model``, e.g. ``helmet``) runs on the same frames; only its configured
``detector.ppe.labels`` are kept (never person boxes) and merged, untracked (``track_id`` -1), after the
tracked people, where the rules see them as ``ZoneView.others``. With ``every_n_frames`` > 1 a camera runs
the PPE model on every n-th frame only and reuses its latest boxes in between (cheaper; PPE boxes then lag
moving people by up to n-1 frames).

A ``missing_ppe`` rule whose required item no model can give is a configuration error, raised by
``Settings`` validation for packaged models (labels from the registry) and, with the models loaded, when a
pipeline is built (:func:`check_ppe_rules`), with the same message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from floorwatch.config import CameraZoneConfig, DetectorConfig, MissingPPERule
from floorwatch.vision.detections import PERSON_LABELS, Detections

if TYPE_CHECKING:
    from floorwatch.config import Settings


class PPERuleError(ValueError):
    """A ``missing_ppe`` rule requires a PPE item that neither the main nor the PPE model detects."""


# --------------------------------------------------------------------------- boxes
def keep_labels(dets: Detections, labels: Iterable[str]) -> Detections:
    """The detections whose label is in ``labels`` (person labels never kept), as new untracked rows."""
    keep = [label for label in labels if label not in PERSON_LABELS]
    if not len(dets) or not keep:
        return Detections.empty()
    sel = dets[np.isin(dets.label, keep)]
    return Detections(xyxy=sel.xyxy, confidence=sel.confidence, class_id=sel.class_id, label=sel.label)


def merge_ppe(tracked: Detections, ppe: Detections, labels: Iterable[str]) -> Detections:
    """One frame's detections for the rules: the main model's (tracked) ones, then the kept PPE boxes."""
    return Detections.merge([tracked, keep_labels(ppe, labels)])


def needs_ppe(zones: Iterable[CameraZoneConfig]) -> bool:
    """Whether any of these camera zones has a ``missing_ppe`` rule (only then does the PPE model run)."""
    return any(isinstance(rule, MissingPPERule) for zone in zones for rule in zone.rules)


def ppe_detector_config(cfg: DetectorConfig) -> DetectorConfig | None:
    """The :class:`DetectorConfig` of ``cfg.ppe`` (device, FP16, IoU, batch, runtime and precision of the main detector); None = off."""
    ppe = cfg.ppe
    if ppe.model is None:
        return None
    return DetectorConfig(
        model=ppe.model, imgsz=ppe.imgsz, conf=ppe.conf, iou=cfg.iou, device=cfg.device, half=cfg.half,
        batch=cfg.batch, class_map=ppe.class_map, runtime=cfg.runtime, precision=cfg.precision,
        calibration=cfg.calibration,
    )


class PPEDetector:
    """The PPE model: ``predict(frames)`` gives each frame's kept PPE boxes (``detector.ppe.labels``).

    Args:
        cfg: The main detector's config; its ``ppe`` section names the model (must not be None).
        model: An already loaded ultralytics model of ``cfg.ppe.model`` (tests).

    Raises:
        ValueError: ``cfg.ppe.model`` is None. ModelNotFoundError / KeyError: the model cannot be loaded.
    """

    def __init__(self, cfg: DetectorConfig, model: Any | None = None):
        from floorwatch.vision.detector import Detector

        inner = ppe_detector_config(cfg)
        if inner is None:
            raise ValueError("detector.ppe.model is not set")
        self.cfg = cfg.ppe
        self.detector = Detector(inner, model=model)
        self.kept: tuple[str, ...] = tuple(label for label in cfg.ppe.labels if label not in PERSON_LABELS)
        #: Model class id -> Floorwatch label, only the kept ones.
        self.labels: dict[int, str] = {i: lab for i, lab in self.detector.labels.items() if lab in self.kept}

    def predict(self, frames: list[np.ndarray]) -> list[Detections]:
        """Kept PPE boxes of several frames, in ONE model call."""
        return [keep_labels(d, self.kept) for d in self.detector.predict(frames)]


class PPEStage:
    """One camera's PPE boxes from a (possibly shared and batched) PPE predictor.

    Args:
        predictor: ``predict(list[image]) -> list[Detections]`` (a :class:`PPEDetector`, maybe behind a
            :class:`~floorwatch.vision.batching.BatchedDetector`).
        every_n_frames: Run the model on every n-th frame; the latest boxes are reused in between.
        labels: Labels kept (person labels are always dropped).
    """

    def __init__(self, predictor: Any, every_n_frames: int = 1, labels: Sequence[str] = ("helmet", "no_helmet")):
        if every_n_frames < 1:
            raise ValueError(f"every_n_frames must be >= 1, got {every_n_frames}")
        self.predictor = predictor
        self.every_n_frames = every_n_frames
        self.labels = tuple(labels)
        self.calls = 0
        self._frames = 0
        self._last = Detections.empty()

    def detect(self, image: np.ndarray) -> Detections:
        """This frame's PPE boxes: fresh on every n-th frame (the first included), else the latest ones."""
        if self._frames % self.every_n_frames == 0:
            self._last = keep_labels(self.predictor.predict([image])[0], self.labels)
            self.calls += 1
        self._frames += 1
        return self._last


# --------------------------------------------------------------------------- label checks
@dataclass(frozen=True)
class ModelLabels:
    """What one configured model can give: its config key, name, every label, and the labels kept."""

    key: str  # "detector.model" or "detector.ppe.model"
    name: str
    labels: tuple[str, ...]
    kept: tuple[str, ...] | None = None  # PPE model: labels left after detector.ppe.labels; None = all


def _fmt(labels: Iterable[str]) -> str:
    return "[" + ", ".join(labels) + "]"


def packaged_labels(name: str, class_map: dict[str, str]) -> tuple[str, ...] | None:
    """Floorwatch labels of a packaged model from its registry label map (``class_map`` applied); None for a
    weights path (only known once loaded)."""
    from floorwatch.vision.models import MODELS

    entry = MODELS.get(name)
    if entry is None:
        return None
    labels = [class_map.get(k, v) for k, v in entry.class_map.items()]
    labels += [v for k, v in class_map.items() if k not in entry.class_map]  # extra classes: assume present
    return tuple(dict.fromkeys(lab for lab in labels if lab))


def _suggest(items: list[str]) -> str:
    """``set detector.ppe.model: NAME`` for the first packaged model that detects every item."""
    from floorwatch.vision.models import MODELS

    for name, entry in MODELS.items():
        if all(item in entry.class_map.values() for item in items):
            return f"set detector.ppe.model: {name}"
    return f"set detector.ppe.model to a model that detects {', '.join(repr(i) for i in items)}"


def ppe_rule_problem(zone_id: str, rule: MissingPPERule, main: ModelLabels, ppe: ModelLabels | None) -> str | None:
    """The error message for one ``missing_ppe`` rule whose required items no model gives, else None."""
    ppe_kept: tuple[str, ...] = () if ppe is None else ppe.kept if ppe.kept is not None else ppe.labels
    have = set(main.labels) | set(ppe_kept)
    missing = [item for item in rule.required if item not in have]
    if not missing:
        return None
    need = ", ".join(repr(i) for i in missing)
    head = f"zone {zone_id!r}: rule missing_ppe requires {need} but {main.key} {main.name!r} gives only {_fmt(main.labels)}"
    if ppe is None:
        return f"{head}; {_suggest(missing)}"
    filtered = [i for i in missing if i in ppe.labels]
    others = [i for i in missing if i not in filtered]
    hints = [f"add {', '.join(filtered)} to detector.ppe.labels"] if filtered else []
    hints += [_suggest(others)] if others else []
    return f"{head} and {ppe.key} {ppe.name!r} gives only {_fmt(ppe_kept)}; {' and '.join(hints)}"


def _configured_labels(cfg: DetectorConfig) -> tuple[ModelLabels | None, ModelLabels | None, bool]:
    """(main, ppe, known) from the registry; ``known`` is False when a weights path leaves labels unknown."""
    main_labels = packaged_labels(cfg.model, cfg.class_map)
    main = ModelLabels("detector.model", cfg.model, main_labels) if main_labels is not None else None
    if cfg.ppe.model is None:
        return main, None, main is not None
    ppe_labels = packaged_labels(cfg.ppe.model, cfg.ppe.class_map)
    if ppe_labels is None:
        return main, None, False
    kept = tuple(lab for lab in ppe_labels if lab in cfg.ppe.labels and lab not in PERSON_LABELS)
    return main, ModelLabels("detector.ppe.model", cfg.ppe.model, ppe_labels, kept), main is not None


def settings_ppe_problems(settings: Settings) -> list[str]:
    """``"cameras.C.zones.Z.rules.R: message"`` for every configured ``missing_ppe`` rule no packaged model
    serves. Rules are left to :func:`check_ppe_rules` when a model is a weights path."""
    main, ppe, known = _configured_labels(settings.detector)
    if not known or main is None:
        return []
    problems = []
    for c, cam in enumerate(settings.cameras):
        for z, zone in enumerate(cam.zones):
            for r, rule in enumerate(zone.rules):
                if isinstance(rule, MissingPPERule):
                    msg = ppe_rule_problem(zone.zone_id, rule, main, ppe)
                    if msg:
                        problems.append(f"cameras.{c}.zones.{z}.rules.{r}: {msg}")
    return problems


def _loaded(predictor: Any) -> Any:
    while predictor is not None and not hasattr(predictor, "labels") and hasattr(predictor, "detector"):
        predictor = predictor.detector  # a BatchedDetector around the real one
    return predictor


def loaded_labels(detector: Any, ppe_detector: Any, cfg: DetectorConfig) -> tuple[ModelLabels | None, ModelLabels | None]:
    """Labels of loaded models (None where a predictor does not tell, e.g. a test double)."""
    det = _loaded(detector)
    main = None
    if isinstance(getattr(det, "labels", None), dict):
        name = getattr(getattr(det, "cfg", None), "model", cfg.model)
        main = ModelLabels("detector.model", name, tuple(dict.fromkeys(v for v in det.labels.values() if v)))
    pp = _loaded(ppe_detector)
    ppe = None
    if isinstance(pp, PPEDetector):
        raw = tuple(dict.fromkeys(v for v in pp.detector.labels.values() if v))
        ppe = ModelLabels("detector.ppe.model", pp.detector.cfg.model, raw, tuple(v for v in raw if v in pp.kept))
    return main, ppe


def check_ppe_rules(zones: Iterable[CameraZoneConfig], detector: Any, ppe_detector: Any, cfg: DetectorConfig) -> None:
    """Raise :class:`PPERuleError` when a ``missing_ppe`` rule of ``zones`` requires an item the loaded models
    cannot give (same message as the config check). Skipped where a predictor does not expose its labels."""
    zones = list(zones)
    if not needs_ppe(zones):
        return
    main, ppe = loaded_labels(detector, ppe_detector, cfg)
    if main is None or (ppe_detector is not None and ppe is None):
        return
    problems = [
        msg
        for zone in zones
        for rule in zone.rules
        if isinstance(rule, MissingPPERule) and (msg := ppe_rule_problem(zone.zone_id, rule, main, ppe))
    ]
    if problems:
        raise PPERuleError("; ".join(dict.fromkeys(problems)))
