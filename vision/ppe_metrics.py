"""Per-class detection accuracy against YOLO-format ground truth (used by ``benchmarks/ppe_accuracy.py``).

Matching rule (the usual VOC/COCO greedy one, per image and per class): predictions are taken in
descending confidence; each is a true positive when its best IoU with a not-yet-matched ground-truth
box of the same label is at least ``iou_threshold``, otherwise a false positive. Unmatched ground
truth boxes are false negatives. Precision = TP / (TP + FP), recall = TP / (TP + FN) at a confidence
threshold; AP50 is the area under the all-point-interpolated precision/recall curve of every
prediction kept.

Person level (what the ``missing_ppe`` rule decides): each labelled person is "missing" an item when no
ground-truth ``item`` box lies on it or a ``no_<item>`` box does; predicted persons get the same flag from
predicted PPE boxes, with the rule's own test (see :func:`missing_flags`). Labelled and predicted persons
are matched one-to-one by IoU (:func:`match_people`) and the flag is scored on matched persons
(:class:`PersonFlagAccuracy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import supervision as sv

#: Class ids of the Roboflow-100 construction-safety labels in ``../shared/data/ppe`` -> Floorwatch labels.
PPE_DATASET_LABELS: dict[int, str] = {0: "helmet", 1: "no_helmet", 2: "no_vest", 3: "person", 4: "vest"}


@dataclass(frozen=True)
class Box:
    """One labelled box in pixels (``score`` 1.0 for ground truth)."""

    label: str
    xyxy: tuple[float, float, float, float]
    score: float = 1.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4 xyxy) with every box in ``b`` (M, 4) -> (N, M) (``supervision.box_iou_batch``)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return sv.box_iou_batch(a, b).astype(np.float64)


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


# --------------------------------------------------------------------------- person level (missing_ppe)
#: Person-level accuracy is what the ``missing_ppe`` rule needs: "is THIS person missing a helmet?".
#: A person is *missing* ``item`` when no ``item`` box lies on it or a ``no_<item>`` box does, "lies on"
#: meaning share of the PPE box inside the person box >= ``min_overlap`` (exactly the rule's test, computed
#: with the same :func:`floorwatch.vision.detections.share_inside` on float32 boxes as ``Detections`` holds).
PERSON_NMS_IOU = 0.6  # the tracker's ``merge_iou``: Normal + Fall boxes on one person become one person


def boxes_xyxy(boxes: Iterable[Box]) -> np.ndarray:
    """``(N, 4)`` float32 array of the boxes (the dtype ``Detections`` uses)."""
    return np.array([b.xyxy for b in boxes], dtype=np.float32).reshape(-1, 4)


def on_people(items: list[Box], people: np.ndarray, min_overlap: float = 0.5) -> np.ndarray:
    """Per person box (``(P, 4)``): whether at least one of ``items`` lies on it (share inside >= min_overlap)."""
    from floorwatch.vision.detections import share_inside

    people = np.asarray(people, dtype=np.float32).reshape(-1, 4)
    if not items or not len(people):
        return np.zeros(len(people), dtype=bool)
    return (share_inside(boxes_xyxy(items), people) >= min_overlap).any(axis=0)


def missing_flags(people: np.ndarray, ppe: Iterable[Box], item: str, min_overlap: float = 0.5) -> np.ndarray:
    """Per person box: missing ``item`` = no ``item`` box on it, or a ``no_<item>`` box on it (the rule's test).

    Args:
        people: ``(P, 4)`` person boxes.
        ppe: PPE boxes of the same image (already thresholded; other labels are ignored).
        item: ``helmet`` or ``vest``.
        min_overlap: Share of a PPE box that must lie inside the person box.
    """
    ppe = list(ppe)
    worn = on_people([b for b in ppe if b.label == item], people, min_overlap)
    flagged = on_people([b for b in ppe if b.label == f"no_{item}"], people, min_overlap)
    return flagged | ~worn


def predicted_people(boxes: Iterable[Box], conf: float, nms_iou: float = PERSON_NMS_IOU) -> np.ndarray:
    """Person boxes the rule would see: ``person`` / ``fallen_person`` scoring >= ``conf``, merged across the two
    labels by the tracker's class-agnostic NMS (``merge_iou``). Returns ``(P, 4)`` float32."""
    from floorwatch.vision.detections import PERSON_LABELS, Detections, class_agnostic_nms

    kept = [b for b in boxes if b.label in PERSON_LABELS and b.score >= conf]
    dets = Detections(
        xyxy=boxes_xyxy(kept),
        confidence=[b.score for b in kept],
        label=np.array([b.label for b in kept], dtype=object),
    )
    return class_agnostic_nms(dets, nms_iou).xyxy


def match_people(truth: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by IoU: repeatedly take the highest-IoU (truth, prediction) pair whose boxes are
    both unmatched, while that IoU is >= ``iou_threshold``. Returns ``(truth index, prediction index)`` pairs."""
    ious = iou_matrix(truth, pred)
    if not ious.size:
        return []
    pairs: list[tuple[int, int]] = []
    ious = np.where(ious >= iou_threshold, ious, -1.0)
    while ious.size and ious.max() >= 0:
        i, j = np.unravel_index(int(ious.argmax()), ious.shape)
        pairs.append((int(i), int(j)))
        ious[i, :] = -1.0
        ious[:, j] = -1.0
    return pairs


@dataclass
class PersonFlagAccuracy:
    """Person-level accuracy of the "missing ``item``" flag over a dataset ("missing" is the positive class).

    Attributes:
        item: ``helmet`` or ``vest``.
        persons: Labelled person boxes.
        labelled_missing: Labelled persons whose ground truth says missing.
        matched: Labelled persons matched to a predicted person (IoU >= threshold).
        tp, fp, fn, tn: Flag outcomes on matched persons (truth missing / predicted missing).
        unmatched_pred: Predicted persons matched to no labelled person.
        unmatched_pred_flagged: Of those, how many the rule would flag as missing (alerts on no labelled person).
    """

    item: str
    persons: int = 0
    labelled_missing: int = 0
    matched: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    unmatched_pred: int = 0
    unmatched_pred_flagged: int = 0

    def add(
        self,
        truth: list[Box],
        pred_people: np.ndarray,
        pred_ppe: list[Box],
        min_overlap: float = 0.5,
        iou_threshold: float = 0.5,
    ) -> None:
        """Add one image: ``truth`` all ground-truth boxes, ``pred_people`` ``(P, 4)`` predicted persons,
        ``pred_ppe`` predicted PPE boxes already at the operating confidence."""
        gt_people = boxes_xyxy(b for b in truth if b.label == "person")
        pred_people = np.asarray(pred_people, dtype=np.float32).reshape(-1, 4)
        gt_missing = missing_flags(gt_people, truth, self.item, min_overlap)
        pred_missing = missing_flags(pred_people, pred_ppe, self.item, min_overlap)
        pairs = match_people(gt_people, pred_people, iou_threshold)
        self.persons += len(gt_people)
        self.labelled_missing += int(gt_missing.sum())
        self.matched += len(pairs)
        for i, j in pairs:
            t, p = bool(gt_missing[i]), bool(pred_missing[j])
            self.tp += t and p
            self.fp += p and not t
            self.fn += t and not p
            self.tn += not t and not p
        unmatched = np.ones(len(pred_people), dtype=bool)
        unmatched[[j for _, j in pairs]] = False
        self.unmatched_pred += int(unmatched.sum())
        self.unmatched_pred_flagged += int((unmatched & pred_missing).sum())

    @property
    def person_recall(self) -> float:
        """Share of labelled persons matched by a predicted person."""
        return self.matched / self.persons if self.persons else 0.0

    def precision_recall_f1(self) -> tuple[float, float, float]:
        """Precision, recall and F1 of the missing flag on matched persons (0 where undefined)."""
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)
