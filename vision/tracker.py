"""Multi-object tracking: ultralytics' ByteTrack fed from :class:`Detections`, with stable ids.

The fall model may report one person as both ``Normal`` and ``Fall``; those boxes are merged with a
class-agnostic NMS (keeping the more confident box and its label) before tracking, so one person is one
track. ``ended_ids()`` says which tracks ended at the last update, so per-track rule state can be dropped
and a stream can run for months.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from floorwatch.runtime import configure_offline
from floorwatch.vision.detections import PERSON_LABELS, Detections, class_agnostic_nms


class _BoxesView:
    """The small Results-like surface BYTETracker reads: ``conf``, ``cls``, ``xywh`` and boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray):
        self.xyxy, self.conf, self.cls = xyxy, conf, cls

    @property
    def xywh(self) -> np.ndarray:
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return np.concatenate([self.xyxy[:, :2] + wh / 2, wh], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, mask: np.ndarray) -> _BoxesView:
        return _BoxesView(self.xyxy[mask], self.conf[mask], self.cls[mask])


class Tracker:
    """ByteTrack over one camera's stream.

    Args:
        frame_rate: Frames per second of the stream (scales how long a lost track is kept).
        track_buffer: Frames a lost track is kept at 30 fps before it ends.
        track_high_thresh: First-association confidence threshold.
        track_low_thresh: Second-association (low-confidence) threshold.
        new_track_thresh: Least confidence that starts a new track.
        match_thresh: Association cost threshold.
        merge_iou: IoU above which boxes of different labels are one object (class-agnostic NMS).
        labels: Only detections with these labels are tracked; the others (PPE boxes) pass through with
            ``track_id`` -1. ``None`` tracks every label.
    """

    def __init__(
        self,
        frame_rate: float = 30.0,
        track_buffer: int = 30,
        track_high_thresh: float = 0.25,
        track_low_thresh: float = 0.1,
        new_track_thresh: float = 0.25,
        match_thresh: float = 0.8,
        merge_iou: float = 0.6,
        labels: frozenset[str] | None = PERSON_LABELS,
    ):
        configure_offline()
        from ultralytics.trackers.byte_tracker import BYTETracker

        args = SimpleNamespace(
            tracker_type="bytetrack",
            track_high_thresh=track_high_thresh,
            track_low_thresh=track_low_thresh,
            new_track_thresh=new_track_thresh,
            track_buffer=max(1, int(round(track_buffer * max(frame_rate, 1.0) / 30.0))),
            match_thresh=match_thresh,
            fuse_score=True,
        )
        self._bt = BYTETracker(args)
        self.merge_iou = merge_iou
        self.labels = labels
        self._alive: set[int] = set()
        self._ended: list[int] = []

    def update(self, dets: Detections) -> Detections:
        """Assign track ids.

        Returns:
            The tracked detections (labels and boxes from this frame's detections, ``track_id`` set) followed
            by the untracked pass-through ones (``track_id`` -1). Detections the tracker does not confirm
            (e.g. the first frame of an unconfirmed low-score object) are left out.
        """
        if self.labels is not None and len(dets):
            to_track_mask = np.isin(dets.label, list(self.labels))
        else:
            to_track_mask = np.ones(len(dets), dtype=bool)
        passthrough = dets[~to_track_mask]
        to_track = class_agnostic_nms(dets[to_track_mask], self.merge_iou)
        view = _BoxesView(
            to_track.xyxy.astype(np.float32),
            to_track.confidence.astype(np.float32),
            to_track.class_id.astype(np.float32),
        )
        out = self._bt.update(view)
        tracked = Detections.empty()
        if len(out):
            idx = out[:, 7].astype(np.int64)
            tracked = to_track[idx]
            tracked.track_id = out[:, 4].astype(np.int64)
        alive = {
            int(t.track_id) for t in (*self._bt.tracked_stracks, *self._bt.lost_stracks) if t.is_activated
        }
        seen = self._alive | {int(t) for t in tracked.track_id}
        self._ended = sorted(seen - alive)
        self._alive = seen & alive
        return Detections.merge([tracked, passthrough])

    def ended_ids(self) -> list[int]:
        """Track ids that ended (were removed by the tracker) at the last :meth:`update`."""
        return list(self._ended)

    def active_ids(self) -> set[int]:
        """Track ids currently tracked or briefly lost (may still come back)."""
        return set(self._alive)

    def reset(self) -> None:
        """Forget all tracks (e.g. after a camera outage); ids restart at 1."""
        self._bt.reset()
        self._ended = sorted(self._alive)
        self._alive = set()
