"""The one value that flows between video stages: a columnar set of detections (supervision's style).

Every array has one row per detection. Boxes are ``xyxy`` in pixels of the ORIGINAL frame.
``from_ultralytics`` is the only function here that touches model-library types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import supervision as sv

#: Floorwatch labels a model's classes are mapped onto.
PERSON = "person"
FALLEN_PERSON = "fallen_person"
HELMET = "helmet"
NO_HELMET = "no_helmet"
VEST = "vest"
NO_VEST = "no_vest"
PERSON_LABELS = frozenset({PERSON, FALLEN_PERSON})
KNOWN_LABELS = frozenset(
    {PERSON, FALLEN_PERSON, HELMET, NO_HELMET, VEST, NO_VEST, "head", "machine", "other"}
)


def _col(values: Any, dtype: Any, n: int, fill: Any) -> np.ndarray:
    if values is None:
        return np.full(n, fill, dtype=dtype)
    arr = np.asarray(values, dtype=dtype).reshape(-1)
    if len(arr) != n:
        raise ValueError(f"Detections: column has {len(arr)} rows, xyxy has {n}")
    return arr


@dataclass(eq=False)
class Detections:
    """Columnar detections of one frame.

    Attributes:
        xyxy: ``(N, 4)`` float32 boxes, pixels of the original frame.
        confidence: ``(N,)`` float32 scores.
        class_id: ``(N,)`` int64 model class ids.
        label: ``(N,)`` object array of Floorwatch label strings (``person``, ``fallen_person``, ...).
        track_id: ``(N,)`` int64 tracker ids, ``-1`` where untracked.
    """

    xyxy: np.ndarray
    confidence: np.ndarray = field(default=None)  # type: ignore[assignment]
    class_id: np.ndarray = field(default=None)  # type: ignore[assignment]
    label: np.ndarray = field(default=None)  # type: ignore[assignment]
    track_id: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"Detections: xyxy must have shape (N, 4), got {xyxy.shape}")
        n = len(xyxy)
        self.xyxy = xyxy
        self.confidence = _col(self.confidence, np.float32, n, 1.0)
        self.class_id = _col(self.class_id, np.int64, n, -1)
        self.label = _col(self.label, object, n, "")
        self.track_id = _col(self.track_id, np.int64, n, -1)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(xyxy=np.zeros((0, 4), dtype=np.float32))

    @classmethod
    def from_ultralytics(cls, result: Any, class_map: Mapping[str, str] | None = None) -> Detections:
        """Build from one ``ultralytics.engine.results.Results`` (boxes are already in original-frame pixels).

        Args:
            result: One ultralytics ``Results`` object.
            class_map: Model class name -> Floorwatch label; names not in the map keep the model's name
                lower-cased. A class mapped to ``""`` is dropped.
        """
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return cls.empty()
        names: Mapping[int, str] = result.names
        class_map = class_map or {}
        class_id = boxes.cls.cpu().numpy().astype(np.int64)
        model_names = [names[int(c)] for c in class_id]
        labels = np.array([class_map.get(n, n.lower()) for n in model_names], dtype=object)
        dets = cls(
            xyxy=boxes.xyxy.cpu().numpy(),
            confidence=boxes.conf.cpu().numpy(),
            class_id=class_id,
            label=labels,
        )
        return dets[labels != ""]

    @classmethod
    def merge(cls, items: Iterable[Detections]) -> Detections:
        """Concatenate several detection sets (e.g. from two models on the same frame)."""
        items = [d for d in items if len(d)]
        if not items:
            return cls.empty()
        return cls(
            xyxy=np.concatenate([d.xyxy for d in items]),
            confidence=np.concatenate([d.confidence for d in items]),
            class_id=np.concatenate([d.class_id for d in items]),
            label=np.concatenate([d.label for d in items]),
            track_id=np.concatenate([d.track_id for d in items]),
        )

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | np.ndarray | list[int] | list[bool]) -> Detections:
        """Rows selected by an int, a slice, an index array or a boolean mask (always a new ``Detections``)."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        idx = (
            (np.asarray(index) if index else np.zeros(0, dtype=np.int64))
            if isinstance(index, list)
            else index
        )
        if isinstance(idx, np.ndarray) and idx.dtype == bool and len(idx) != len(self):
            raise IndexError(f"Detections: mask has {len(idx)} entries for {len(self)} detections")
        return Detections(
            xyxy=self.xyxy[idx].reshape(-1, 4),
            confidence=self.confidence[idx],
            class_id=self.class_id[idx],
            label=self.label[idx],
            track_id=self.track_id[idx],
        )

    def __iter__(self):  # type: ignore[no-untyped-def]
        """Iterate rows as ``(xyxy, confidence, class_id, label, track_id)`` tuples."""
        for i in range(len(self)):
            yield (
                self.xyxy[i],
                float(self.confidence[i]),
                int(self.class_id[i]),
                str(self.label[i]),
                int(self.track_id[i]),
            )

    def __repr__(self) -> str:
        return f"Detections(n={len(self)}, labels={self.label.tolist()}, track_id={self.track_id.tolist()})"

    def with_label(self, *labels: str) -> Detections:
        """Only detections whose label is one of ``labels``."""
        return self[np.isin(self.label, list(labels))] if len(self) else self

    def people(self) -> Detections:
        """Only person-like detections (``person`` and ``fallen_person``)."""
        return self.with_label(*PERSON_LABELS)

    # ------------------------------------------------------------------ geometry
    def bottom_center(self) -> np.ndarray:
        """``(N, 2)`` feet points: middle of the bottom edge of each box."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)

    def width(self) -> np.ndarray:
        """``(N,)`` box widths in pixels."""
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    def height(self) -> np.ndarray:
        """``(N,)`` box heights in pixels."""
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    def area(self) -> np.ndarray:
        """``(N,)`` box areas in square pixels."""
        return np.clip(self.width(), 0, None) * np.clip(self.height(), 0, None)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` IoU of two xyxy box arrays (``supervision.box_iou_batch``)."""
    return sv.box_iou_batch(np.asarray(a).reshape(-1, 4), np.asarray(b).reshape(-1, 4)).astype(np.float64)


def intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))`` intersection areas of two xyxy box arrays."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt, 0, None)
    return wh[..., 0] * wh[..., 1]


def share_inside(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """``(len(inner), len(outer))`` share of each ``inner`` box's area that lies inside each ``outer`` box."""
    area_in = np.prod(np.clip(inner[:, 2:] - inner[:, :2], 0, None), axis=1)
    return intersection_area(inner, outer) / np.maximum(area_in, 1e-9)[:, None]


def class_agnostic_nms(dets: Detections, iou_threshold: float = 0.6) -> Detections:
    """Keep the most confident of overlapping boxes regardless of label (e.g. Normal + Fall on one person).

    ``supervision.box_non_max_suppression`` on (box, confidence): a box whose IoU with a more confident kept
    box exceeds ``iou_threshold`` is dropped. Order of the kept detections is unchanged.
    """
    if len(dets) < 2:
        return dets
    keep = sv.box_non_max_suppression(np.column_stack([dets.xyxy, dets.confidence]), iou_threshold)
    return dets[keep]
