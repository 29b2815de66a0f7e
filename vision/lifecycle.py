"""Alert lifecycle: hold time, debounce, cool-down and started -> updated -> ended events.

Everything here is a pure function of (previous state, what the rule sees now) -> (new state, events):
the input state is never mutated, so the rule tables in the tests can replay any sequence.

Keys: a per-track rule keys its alerts by ``track_id`` (int); a zone-level rule (crowding, hot spot) uses
``None``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from floorwatch.schemas.events import AlertEvent

Key = int | None
_EPS = 1e-6  # seconds: float noise in frame / fps timestamps


@dataclass(frozen=True)
class AlertContext:
    """Who raises the alerts of one rule in one zone (fixed for the life of a stream)."""

    source_id: str
    camera_id: str
    zone_id: str
    rule: str
    severity: str
    min_seconds: float
    end_after_seconds: float
    cooldown_seconds: float
    update_every_seconds: float
    strictly_longer: bool = False  # dwell fires when held > max_seconds, the others at >= min_seconds


@dataclass(frozen=True)
class Tick:
    """When the rule is evaluated."""

    frame: int
    video_ts: float
    wall_time: datetime


@dataclass(frozen=True)
class OpenAlert:
    alert_id: str
    start_frame: int
    start_ts: float
    last_true_ts: float
    last_emit_ts: float
    seq: int  # number of events emitted so far for this alert
    details: dict[str, Any] = field(default_factory=dict)
    people: int | None = None


@dataclass(frozen=True)
class LifecycleState:
    """``since``: when each key's condition became true; ``seen``: last time it was true;
    ``open``: alerts in progress; ``cooldown_until``: the rule may not start a new alert in the zone before this."""

    since: dict[Key, float] = field(default_factory=dict)
    seen: dict[Key, float] = field(default_factory=dict)
    open: dict[Key, OpenAlert] = field(default_factory=dict)
    cooldown_until: float = float("-inf")


def make_alert_id(ctx: AlertContext, key: Key, start_frame: int) -> str:
    """Deterministic alert id: replaying the same video gives the same ids."""
    raw = f"{ctx.source_id}|{ctx.camera_id}|{ctx.zone_id}|{ctx.rule}|{'zone' if key is None else key}|{start_frame}"
    return "al-" + hashlib.sha1(raw.encode("utf-8")).hexdigest()[:24]


def _event(ctx: AlertContext, alert: OpenAlert, phase: str, key: Key, tick: Tick, source: str) -> AlertEvent:
    return AlertEvent(
        event_id=f"{alert.alert_id}:{phase}:{alert.seq}",
        alert_id=alert.alert_id,
        phase=phase,  # type: ignore[arg-type]
        rule=ctx.rule,  # type: ignore[arg-type]
        severity=ctx.severity,  # type: ignore[arg-type]
        camera_id=ctx.camera_id,
        zone_id=ctx.zone_id,
        track_id=key,
        frame=tick.frame,
        video_ts=max(0.0, tick.video_ts),
        occurred_at=tick.wall_time,
        source=source,
        people=alert.people,
        details=dict(alert.details),
    )


def _held_enough(ctx: AlertContext, held: float) -> bool:
    return held > ctx.min_seconds + _EPS if ctx.strictly_longer else held >= ctx.min_seconds - _EPS


def advance(
    state: LifecycleState,
    active: dict[Key, dict[str, Any]],
    ctx: AlertContext,
    tick: Tick,
    *,
    source: str = "",
    dropped: frozenset[int] = frozenset(),
) -> tuple[LifecycleState, list[AlertEvent]]:
    """One step of the lifecycle.

    Args:
        state: Previous state (not modified).
        active: Keys whose raw condition is true in this frame -> rule details (``people`` key is lifted
            into ``AlertEvent.people``).
        ctx: The rule in its zone.
        tick: Frame index, video seconds and wall time of this frame.
        source: Video file or stream, copied into events.
        dropped: Track ids the tracker ended: their hold timers are forgotten at once.

    Returns:
        The new state and the events of this frame (ended before started, in key order).

    A key's hold timer survives gaps shorter than ``end_after_seconds`` (a missed detection does not restart
    it). An open alert ends once its condition has been absent for ``end_after_seconds``; then the rule is
    cooling down in the zone for ``cooldown_seconds``.
    """
    t = tick.video_ts
    since, seen = _hold_timers(state, active, ctx, t, dropped)
    opened, cooldown_until = dict(state.open), state.cooldown_until
    events: list[AlertEvent] = []
    for key in sorted(opened, key=_sort_key):  # ended
        alert = opened[key]
        if key not in active and (t - alert.last_true_ts >= ctx.end_after_seconds - _EPS or key in dropped):
            events.append(_event(ctx, replace(alert, seq=alert.seq + 1), "ended", key, tick, source))
            del opened[key]
            cooldown_until = max(cooldown_until, t + ctx.cooldown_seconds)
    for key in sorted(active, key=_sort_key):  # started / updated
        details = dict(active[key])
        people = details.pop("people", None)
        alert = opened.get(key)
        if alert is not None:
            alert = replace(alert, last_true_ts=t, details=details, people=people)
            if t - alert.last_emit_ts >= ctx.update_every_seconds - _EPS:
                alert = replace(alert, seq=alert.seq + 1, last_emit_ts=t)
                events.append(_event(ctx, alert, "updated", key, tick, source))
            opened[key] = alert
        elif _held_enough(ctx, t - since[key]) and t >= cooldown_until - _EPS:
            details["held_seconds"] = round(t - since[key], 3)
            alert = OpenAlert(make_alert_id(ctx, key, tick.frame), tick.frame, t, t, t, 0, details, people)
            events.append(_event(ctx, alert, "started", key, tick, source))
            opened[key] = alert
    return LifecycleState(since=since, seen=seen, open=opened, cooldown_until=cooldown_until), events


def _hold_timers(
    state: LifecycleState, active: dict[Key, Any], ctx: AlertContext, t: float, dropped: frozenset[int]
) -> tuple[dict[Key, float], dict[Key, float]]:
    """New (since, seen) maps: start timers of new keys, forget keys absent too long or dropped."""
    since, seen = dict(state.since), dict(state.seen)
    for key in active:
        if key not in since or t - seen.get(key, t) > ctx.end_after_seconds + _EPS:
            since[key] = t
        seen[key] = t
    for key in list(since):
        if key not in active and (t - seen[key] > ctx.end_after_seconds + _EPS or key in dropped):
            del since[key], seen[key]
    return since, seen


def close(
    state: LifecycleState, ctx: AlertContext, tick: Tick, *, source: str = ""
) -> tuple[LifecycleState, list[AlertEvent]]:
    """End every open alert (end of stream). Returns an empty state and the ``ended`` events."""
    events = []
    for key in sorted(state.open, key=_sort_key):
        alert = replace(state.open[key], seq=state.open[key].seq + 1)
        events.append(_event(ctx, alert, "ended", key, tick, source))
    return LifecycleState(cooldown_until=state.cooldown_until), events


def _sort_key(key: Key) -> tuple[int, int]:
    return (0, -1) if key is None else (1, key)
