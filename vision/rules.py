"""Live alert rules: pure functions of (state, observation) -> (state, events), thresholds from config.

Each rule has a *condition* (which keys violate the rule in this frame, with details) and shares the
lifecycle in :mod:`floorwatch.vision.lifecycle` (hold for ``min_seconds``, debounce, cool-down, events).
:class:`ZoneRuleEngine` runs every rule of one camera zone over a stream.

``person_down`` is a fast transition from upright to down, kept while the fallen person stays down or out of
the detector's sight, ended by a get-up; see :mod:`floorwatch.vision.falls` for the cues and their sources.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import cv2
import numpy as np

from floorwatch.config import (
    CameraZoneConfig,
    CrowdingRule,
    DwellRule,
    HotSpotRule,
    MissingPPERule,
    PersonDownRule,
    RestrictedZoneIntrusionRule,
    RuleConfig,
)
from floorwatch.schemas.events import AlertEvent
from floorwatch.vision import lifecycle
from floorwatch.vision.detections import Detections, share_inside
from floorwatch.vision.falls import FallParams, FallState, step_falls
from floorwatch.vision.lifecycle import AlertContext, Key, LifecycleState, Tick
from floorwatch.vision.zones import PolygonZone


@dataclass(frozen=True)
class Observation:
    """What the pipeline knows about one frame of one camera.

    Attributes:
        frame: 0-based frame index.
        video_ts: Seconds into the stream/video.
        wall_time: Wall time (live) or video time (replay) of the frame.
        detections: Tracked detections of the WHOLE frame; each zone keeps the people whose feet are inside
            it and matches PPE boxes anywhere on those people.
        image: The frame (BGR or grey), needed only by ``hot_spot``.
        ended_tracks: Track ids the tracker ended at this frame (their per-track state is dropped).
    """

    frame: int
    video_ts: float
    wall_time: datetime
    detections: Detections
    image: np.ndarray | None = None
    ended_tracks: frozenset[int] = frozenset()
    poses: Any = None  # floorwatch.vision.pose.Poses where the pipeline ran pose this frame (person_down)
    low_people: Detections | None = None  # person_down: person boxes below detector.conf (vision/recheck.py)


@dataclass(frozen=True)
class ZoneView:
    """One frame as one zone sees it (input of the rule conditions)."""

    people: Detections  # person-like detections whose bottom-centre is in the zone
    others: Detections  # every non-person detection of the frame (PPE boxes)
    hot_fraction: float | None = None  # share of zone pixels at or above the hot-spot intensity
    poses: Any = None  # person_down: Poses of the frame where pose ran
    frame_wh: tuple[int, int] | None = None  # person_down: frame size (pixels)
    low_people: Detections | None = None  # person_down: the zone's person boxes below detector.conf


@dataclass(frozen=True)
class RuleState:
    lifecycle: LifecycleState = field(default_factory=LifecycleState)
    falls: FallState = field(default_factory=FallState)  # person_down only


# --------------------------------------------------------------------------- conditions
def _tracked(people: Detections) -> Detections:
    return people[people.track_id >= 0] if len(people) else people


def cond_presence(view: ZoneView) -> dict[Key, dict[str, Any]]:
    """restricted_zone_intrusion / dwell: every tracked person in the zone."""
    p = _tracked(view.people)
    return {
        int(t): {"label": str(lab), "confidence": round(float(c), 3)}
        for t, lab, c in zip(p.track_id, p.label, p.confidence, strict=False)
    }


def cond_missing_ppe(view: ZoneView, cfg: MissingPPERule) -> dict[Key, dict[str, Any]]:
    """Tracked people without a worn required item (share of the PPE box inside the person box >= min_overlap),
    or with an explicit ``no_<item>`` box on them."""
    p = _tracked(view.people)
    if len(p) == 0:
        return {}
    missing: dict[int, list[str]] = {int(t): [] for t in p.track_id}
    for item in cfg.required:
        worn = _on_person(view.others.with_label(item), p, cfg.min_overlap)
        flagged = _on_person(view.others.with_label(f"no_{item}"), p, cfg.min_overlap)
        for i, tid in enumerate(p.track_id):
            if flagged[i] or not worn[i]:
                missing[int(tid)].append(item)
    return {t: {"missing": items} for t, items in missing.items() if items}


def _on_person(ppe: Detections, people: Detections, min_overlap: float) -> np.ndarray:
    if len(ppe) == 0:
        return np.zeros(len(people), dtype=bool)
    return (share_inside(ppe.xyxy, people.xyxy) >= min_overlap).any(axis=0)


def cond_crowding(view: ZoneView, cfg: CrowdingRule) -> dict[Key, dict[str, Any]]:
    """Zone-level: more than ``max_people`` people (tracked or not)."""
    n = len(view.people)
    return {None: {"people": n, "max_people": cfg.max_people}} if n > cfg.max_people else {}


def cond_hot_spot(view: ZoneView, cfg: HotSpotRule) -> dict[Key, dict[str, Any]]:
    """Zone-level: at least ``min_area_fraction`` of the zone's pixels at or above ``min_intensity``."""
    f = view.hot_fraction
    if f is None or f < cfg.min_area_fraction:
        return {}
    return {None: {"hot_fraction": round(f, 4), "min_intensity": cfg.min_intensity}}


def hot_fraction(image: np.ndarray, mask: np.ndarray, min_intensity: int) -> float:
    """Share of the ``mask`` pixels of ``image`` (BGR or grey) whose grey level is >= ``min_intensity``."""
    grey = (
        cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if image.ndim == 3 and image.shape[2] == 3
        else image.reshape(image.shape[:2])
    )
    if grey.shape[:2] != mask.shape:
        raise ValueError(
            f"frame size {grey.shape[1]}x{grey.shape[0]} differs from the zone's {mask.shape[1]}x{mask.shape[0]}"
        )
    total = int(mask.sum())
    return float((grey[mask] >= min_intensity).sum()) / total if total else 0.0


# --------------------------------------------------------------------------- one rule
def context_for(rule: RuleConfig, source_id: str, camera_id: str, zone_id: str) -> AlertContext:
    """The lifecycle parameters of one configured rule."""
    hold = rule.max_seconds if isinstance(rule, DwellRule) else rule.min_seconds
    return AlertContext(
        source_id=source_id,
        camera_id=camera_id,
        zone_id=zone_id,
        rule=rule.type,
        severity=rule.severity,
        min_seconds=hold,
        end_after_seconds=rule.end_after_seconds,
        cooldown_seconds=rule.cooldown_seconds,
        update_every_seconds=rule.update_every_seconds,
        strictly_longer=isinstance(rule, DwellRule),
    )


def step_rule(
    state: RuleState,
    rule: RuleConfig,
    ctx: AlertContext,
    view: ZoneView,
    tick: Tick,
    *,
    source: str = "",
    dropped: frozenset[int] = frozenset(),
) -> tuple[RuleState, list[AlertEvent]]:
    """Pure step of one rule: condition, then lifecycle. ``dropped`` track ids lose their state."""
    falls = state.falls
    if isinstance(rule, (RestrictedZoneIntrusionRule, DwellRule)):
        active = cond_presence(view)
    elif isinstance(rule, PersonDownRule):
        frame_w = float(view.frame_wh[0]) if view.frame_wh else None
        params = FallParams(rule.aspect_ratio, rule.fall_window_seconds, rule.down_memory_seconds, frame_w)
        falls, down = step_falls(falls, view.people, tick.video_ts, params, view.poses, view.low_people)
        active = dict(down)  # type: ignore[arg-type]
        dropped = frozenset(dropped) - set(falls.downs)  # a fallen person's alert outlives the lost track
    elif isinstance(rule, MissingPPERule):
        active = cond_missing_ppe(view, rule)
    elif isinstance(rule, CrowdingRule):
        active = cond_crowding(view, rule)
    elif isinstance(rule, HotSpotRule):
        active = cond_hot_spot(view, rule)
    else:  # pragma: no cover - config union is closed
        raise TypeError(f"unknown rule {rule!r}")
    life, events = lifecycle.advance(
        state.lifecycle, active, ctx, tick, source=source, dropped=frozenset(dropped)
    )
    return replace(state, lifecycle=life, falls=falls), events


# --------------------------------------------------------------------------- one zone
class ZoneRuleEngine:
    """All rules of one camera zone over one stream.

    Args:
        camera_id: Camera id (events' ``camera_id``).
        source_id: Video file or stream URL; part of the deterministic alert ids and the events' ``source``.
        zone_cfg: The zone's polygon and rules.
        frame_wh: ``(width, height)`` of the stream's frames.
    """

    def __init__(self, camera_id: str, source_id: str, zone_cfg: CameraZoneConfig, frame_wh: tuple[int, int]):
        self.camera_id = camera_id
        self.source_id = source_id
        self.zone_cfg = zone_cfg
        self.zone_id = zone_cfg.zone_id
        self.zone = PolygonZone(zone_cfg.polygon, frame_wh)
        self.frame_wh = frame_wh
        self.rules: list[RuleConfig] = list(zone_cfg.rules)
        self.contexts = [context_for(r, source_id, camera_id, self.zone_id) for r in self.rules]
        self.states = [RuleState() for _ in self.rules]
        self._hot_intensities = sorted({r.min_intensity for r in self.rules if isinstance(r, HotSpotRule)})
        self._last: Tick | None = None

    def view(self, obs: Observation) -> list[ZoneView]:
        """The zone's view of a frame, one per rule (hot-spot rules may use different intensities)."""
        dets = obs.detections
        people = dets.people()
        people = people[self.zone.contains(people)] if len(people) else people
        others = dets[~np.isin(dets.label, ["person", "fallen_person"])] if len(dets) else dets
        low = obs.low_people
        if low is not None and len(low):
            low = low[self.zone.contains(low)]
        fractions: dict[int, float] = {}
        if self._hot_intensities and obs.image is not None:
            fractions = {i: hot_fraction(obs.image, self.zone.mask(), i) for i in self._hot_intensities}
        return [
            ZoneView(people, others, fractions.get(r.min_intensity) if isinstance(r, HotSpotRule) else None,
                     obs.poses, self.frame_wh, low)
            for r in self.rules
        ]

    def step(self, obs: Observation) -> list[AlertEvent]:
        """Evaluate every rule on one frame; returns the alert events of this frame."""
        tick = Tick(obs.frame, obs.video_ts, obs.wall_time)
        events: list[AlertEvent] = []
        for i, (rule, ctx, v) in enumerate(zip(self.rules, self.contexts, self.view(obs), strict=False)):
            self.states[i], ev = step_rule(
                self.states[i], rule, ctx, v, tick, source=self.source_id, dropped=obs.ended_tracks
            )
            events += ev
        self._last = tick
        return events

    def close(self, video_ts: float, frame: int, wall_time: datetime | None = None) -> list[AlertEvent]:
        """End every open alert (end of stream or shutdown)."""
        when = wall_time or (self._last.wall_time if self._last else datetime.now().astimezone())
        tick = Tick(frame, video_ts, when)
        events: list[AlertEvent] = []
        for i, ctx in enumerate(self.contexts):
            life, ev = lifecycle.close(self.states[i].lifecycle, ctx, tick, source=self.source_id)
            self.states[i] = RuleState(lifecycle=life)
            events += ev
        return events

    def open_alerts(self) -> int:
        """Number of alerts in progress in this zone."""
        return sum(len(s.lifecycle.open) for s in self.states)

    def tracked_state_size(self) -> int:
        """Number of per-track entries held (for tests: it must not grow without bound)."""
        return sum(
            len(s.lifecycle.since) + len(s.lifecycle.open) + len(s.falls.tracks) + len(s.falls.downs)
            for s in self.states
        )

    def pose_regions(self, obs: Observation, limit: int) -> list[tuple[float, float, float, float]]:
        """Frame regions (xyxy) where person_down wants pose on the next frame (see
        :func:`floorwatch.vision.falls.pose_regions`); empty without a person_down rule."""
        from floorwatch.vision.falls import pose_regions

        people = obs.detections.people()
        people = people[self.zone.contains(people)] if len(people) else people
        out: list[tuple[float, float, float, float]] = []
        for rule, st in zip(self.rules, self.states, strict=False):
            if isinstance(rule, PersonDownRule):
                out += pose_regions(st.falls, people, self.frame_wh, limit)
        return out[:limit]


def engines_for_camera(
    camera_id: str, source_id: str, zones: list[CameraZoneConfig], frame_wh: tuple[int, int]
) -> list[ZoneRuleEngine]:
    """One engine per zone; a camera with no zones gets the whole frame watched by ``person_down``."""
    from floorwatch.vision.zones import default_zones

    return [ZoneRuleEngine(camera_id, source_id, z, frame_wh) for z in (zones or default_zones())]
