"""Per-class detection accuracy against YOLO-format ground truth (used by ``benchmarks/ppe_accuracy.py``).

Matching rule (the usual VOC/COCO greedy one, per image and per class): predictions are taken in
descending confidence; each is a true positive when its best IoU with a not-yet-matched ground-truth
box of the same label is at least ``iou_threshold``, otherwise a false positive. Unmatched ground
truth boxes are false negatives. Precision = TP / (TP + FP), recall = TP / (TP + FN) at a confidence
threshold; AP50 is the area under the all-point-interpolated precision/recall curve of every
prediction kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Class ids of the Roboflow-100 construction-safety labels in ``../shared/data/ppe`` -> Floorwatch labels.
PPE_DATASET_LABELS: dict[int, str] = {0: "helmet", 1: "no_helmet", 2: "no_vest", 3: "person", 4: "vest"}


@dataclass(frozen=True)
class Box:
    """One labelled box in pixels (``score`` 1.0 for ground truth)."""

    label: str
    xyxy: tuple[float, float, float, float]
    score: float = 1.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4 xyxy) with every box in ``b`` (M, 4) -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match_image(
    preds: list[Box], truth: list[Box], label: str, iou_threshold: float = 0.5
) -> list[tuple[float, bool]]:
    """Greedy matching of one image's ``label`` boxes: ``(score, is_true_positive)`` per prediction."""
    p = sorted((b for b in preds if b.label == label), key=lambda b: -b.score)
    t = [b for b in truth if b.label == label]
    if not p:
        return []
    if not t:
        return [(b.score, False) for b in p]
    ious = iou_matrix(np.array([b.xyxy for b in p]), np.array([b.xyxy for b in t]))
    taken = np.zeros(len(t), dtype=bool)
    out = []
    for i, b in enumerate(p):
        row = np.where(taken, -1.0, ious[i])
        j = int(row.argmax())
        hit = row[j] >= iou_threshold
        if hit:
            taken[j] = True
        out.append((b.score, bool(hit)))
    return out


@dataclass
class ClassAccuracy:
    """Accumulated matches of one label over a dataset."""

    label: str
    n_truth: int = 0
    matches: list[tuple[float, bool]] = field(default_factory=list)

    def add(self, preds: list[Box], truth: list[Box], iou_threshold: float) -> None:
        """Add one image."""
        self.n_truth += sum(b.label == self.label for b in truth)
        self.matches.extend(match_image(preds, truth, self.label, iou_threshold))

    def counts(self, conf: float) -> tuple[int, int, int]:
        """``(tp, fp, fn)`` of predictions scoring at least ``conf``."""
        tp = sum(1 for s, ok in self.matches if s >= conf and ok)
        fp = sum(1 for s, ok in self.matches if s >= conf and not ok)
        return tp, fp, self.n_truth - tp

    def precision_recall(self, conf: float) -> tuple[float, float]:
        """Precision and recall at a confidence threshold (precision is 0 with no predictions)."""
        tp, fp, fn = self.counts(conf)
        return (tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0)

    def ap(self) -> float:
        """AP at this IoU threshold: all-point interpolated area under the precision/recall curve."""
        if not self.n_truth:
            return 0.0
        ordered = sorted(self.matches, key=lambda m: -m[0])
        hits = np.array([ok for _, ok in ordered], dtype=np.float64)
        tp = np.cumsum(hits)
        fp = np.cumsum(1.0 - hits)
        recall = np.concatenate([[0.0], tp / self.n_truth, [tp[-1] / self.n_truth if len(tp) else 0.0]])
        precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1e-9), [0.0]])
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


def read_yolo_labels(
    path: Path, width: int, height: int, labels: Mapping[int, str] = PPE_DATASET_LABELS
) -> list[Box]:
    """Ground-truth boxes of one YOLO label file (``cls cx cy w h`` normalised) in pixels.

    Raises:
        ValueError: a malformed line or an unknown class id, naming the file and line.
    """
    boxes: list[Box] = []
    if not path.exists():
        return boxes  # an image without a label file has no objects
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls = int(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:5])
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{path}:{n}: expected 'class cx cy w h', got {line!r}") from exc
        if cls not in labels:
            raise ValueError(f"{path}:{n}: unknown class id {cls} (known: {sorted(labels)})")
        boxes.append(
            Box(
                labels[cls],
                ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height),
            )
        )
    return boxes


def evaluate(
    pairs: Iterable[tuple[list[Box], list[Box]]], labels: Iterable[str], iou_threshold: float = 0.5
) -> dict[str, ClassAccuracy]:
    """Accumulate ``(predictions, truth)`` pairs (one per image) for each label."""
    acc = {label: ClassAccuracy(label) for label in labels}
    for preds, truth in pairs:
        for a in acc.values():
            a.add(preds, truth, iou_threshold)
    return acc
