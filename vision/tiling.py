"""Tiled inference for small, distant people: the whole frame plus a grid of overlapping tiles, merged.

Each tile is run at the detector's input size, so a person covering a few pixels of a large frame fills
``grid`` times more of the model input. Tiles come from supervision's ``InferenceSlicer`` (batched: one
``predict`` per frame's tiles); the whole frame is detected as well (SAHI's "standard prediction" next to the
sliced one [Akyon et al. 2022, "Slicing Aided Hyper Inference and Fine-tuning for Small Object Detection",
ICIP]). The whole-frame boxes are kept as they are; a tile box is added only where no whole-frame box of
the same kind covers half of it (intersection over the smaller box, IOS >= 0.5, SAHI's default match
metric and threshold), and the added tile boxes are merged among themselves by non-maximum merging at the
same IOS. So a person larger than a tile, cut by the tile edges into parts, stays one whole-frame box,
and the tiles only add people the whole frame missed. ``person`` and ``fallen_person`` count as one kind
(a person cut by a tile edge is often labelled fallen: short and wide). Cost: ``grid**2 + 1`` detector inputs per frame.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import supervision as sv

from floorwatch.vision.detections import PERSON_LABELS, Detections

MERGE_IOS = 0.5  # SAHI's default match threshold (intersection over the smaller box)


def _to_sv(d: Detections) -> sv.Detections:
    if len(d) == 0:
        return sv.Detections.empty()
    return sv.Detections(xyxy=d.xyxy.astype(np.float32), confidence=d.confidence.astype(np.float32),
                         class_id=d.class_id.astype(int), data={"label": d.label.astype(str)})


def _from_sv(d: sv.Detections) -> Detections:
    if len(d) == 0:
        return Detections.empty()
    return Detections(xyxy=d.xyxy, confidence=d.confidence, class_id=d.class_id,
                      label=np.asarray(d.data["label"], dtype=object))


class TiledDetector:
    """A detector run on the whole frame and on a ``grid`` x ``grid`` set of tiles overlapping by ``overlap``.

    Args:
        detector: Anything with ``predict(frames, min_conf=None) -> list[Detections]``
            (:class:`floorwatch.vision.detector.Detector`).
        grid: Tiles per side (>= 2).
        overlap: Share of a tile's side shared with its neighbour (0 <= overlap < 0.5).

    Raises:
        ValueError: ``grid`` < 2 or ``overlap`` outside [0, 0.5).
    """

    def __init__(self, detector: Any, grid: int = 2, overlap: float = 0.2):
        if grid < 2:
            raise ValueError(f"tiles: grid must be >= 2 (1 = no tiling), got {grid}")
        if not 0 <= overlap < 0.5:
            raise ValueError(f"tiles: overlap must be in [0, 0.5), got {overlap}")
        self.detector, self.grid, self.overlap = detector, grid, overlap

    def __getattr__(self, name: str) -> Any:  # labels, names, cfg, runtime of the wrapped detector
        return getattr(self.detector, name)

    def tile_wh(self, w: int, h: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """``(slice_wh, overlap_wh)`` in pixels for a ``w`` x ``h`` frame: ``grid`` tiles per side."""
        sw = math.ceil(w / (self.grid - (self.grid - 1) * self.overlap))
        sh = math.ceil(h / (self.grid - (self.grid - 1) * self.overlap))
        return (sw, sh), (int(sw * self.overlap), int(sh * self.overlap))

    def predict(self, frames: list[np.ndarray], min_conf: float | None = None) -> list[Detections]:
        """Detections of each frame (whole frame + tiles, merged), boxes in frame pixels."""
        kw = {} if min_conf is None else {"min_conf": min_conf}
        out = []
        for frame, whole in zip(frames, self.detector.predict(frames, **kw), strict=True):
            h, w = frame.shape[:2]
            slice_wh, overlap_wh = self.tile_wh(w, h)
            slicer = sv.InferenceSlicer(
                callback=lambda tiles: [_to_sv(d) for d in self.detector.predict(list(tiles), **kw)],
                slice_wh=slice_wh, overlap_wh=overlap_wh, overlap_filter=sv.OverlapFilter.NONE,
                batch_size=self.grid * self.grid, thread_workers=1,
            )
            out.append(merge(whole, _from_sv(slicer(frame))))
        return out


def _kind(d: Detections) -> np.ndarray:
    return np.where(np.isin(d.label, list(PERSON_LABELS)), "person", d.label.astype(str))


def _ios(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) intersection over the smaller box of two xyxy arrays."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(np.minimum(area(a)[:, None], area(b)[None, :]), 1e-9)


def merge(whole: Detections, tiles: Detections) -> Detections:
    """Whole-frame boxes, plus the tile boxes no whole-frame box of their kind covers (IOS >= ``MERGE_IOS``),
    the latter merged among themselves (non-maximum merging, IOS >= ``MERGE_IOS``, per kind)."""
    if len(tiles) == 0:
        return whole
    new = np.ones(len(tiles), bool)
    if len(whole):
        same_kind = _kind(tiles)[:, None] == _kind(whole)[None, :]
        new = ~((_ios(tiles.xyxy, whole.xyxy) >= MERGE_IOS) & same_kind).any(axis=1)
    added = tiles[new]
    if len(added) == 0:
        return whole
    kinds = _kind(added)
    parts = [whole]
    for k in np.unique(kinds):
        sel = _to_sv(added[kinds == k])
        parts.append(_from_sv(sel.with_nmm(threshold=MERGE_IOS, overlap_metric=sv.OverlapMetric.IOS,
                                            class_agnostic=True)))
    return Detections.merge(parts)
