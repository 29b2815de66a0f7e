"""Bus events -> database rows, idempotently (the sink and the in-process bus both call :func:`apply_events`).

Each event names the row it belongs to (``alert_id``, ``outage_id``, ``anomaly_id``). The existing rows of
a batch are read once, the events are folded into them in order, and only changed rows are written with
one upsert per table. The fold is monotonic, so redelivering any event (or a whole batch) changes nothing:

* an alert is never moved from ``closed`` back to ``open``; ``ended_at`` is set once;
* ``started_at``/``start_frame`` only move earlier, ``last_seen_at`` only later (``max``);
* an ``updated`` event counts (``updates + 1``, new ``people``/``details``) only when it is newer than
  ``last_seen_at``, so a replayed one is a no-op;
* an ``updated`` or ``ended`` event for an unknown alert creates the row from what it carries;
* an outage's ``ended_at`` is filled when it arrives and never cleared.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, Table, any_, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from floorwatch.schemas.events import AlertEvent, AnomalyEvent, BusEvent, OutageEvent
from floorwatch.schemas.tables import Alert, CameraOutage, SensorAnomaly
from floorwatch.storage.registry import ensure_cameras, ensure_zones

# Rows per INSERT statement: keeps SQLite (32k) and PostgreSQL (65k) bind-parameter limits far away.
_CHUNK = 300
_ALERT_COLUMNS = (
    "id", "rule", "severity", "zone_id", "camera_id", "track_id", "status", "started_at", "last_seen_at",
    "ended_at", "start_frame", "end_frame", "video_ts", "source", "people", "details", "snapshot_path",
    "clip_path", "captured_at", "inferred_at", "published_at", "updates",
)  # fmt: skip
_OUTAGE_COLUMNS = ("id", "camera_id", "started_at", "ended_at", "reason")
_ANOMALY_COLUMNS = (
    "id", "zone_id", "asset", "started_at", "ended_at", "score", "channels", "category", "method",
)  # fmt: skip


class EventDataError(ValueError):
    """An event that validates against the schema but cannot be stored (e.g. a naive timestamp)."""


def check_event(event: BusEvent) -> None:
    """Refuse what the database would refuse, naming the event: naive (zone-less) timestamps.

    Raises:
        EventDataError: with the event id, the field and the problem.
    """
    stamps: dict[str, datetime | None] = {}
    if isinstance(event, AlertEvent):
        stamps["occurred_at"] = event.occurred_at
        if event.latency is not None:
            stamps.update(event.latency.model_dump())
    else:
        stamps["started_at"] = event.started_at
        stamps["ended_at"] = event.ended_at
    for name, value in stamps.items():
        if value is not None and value.tzinfo is None:
            raise EventDataError(
                f"event {event.event_id!r}: {name} {value.isoformat()} has no time zone (send UTC)"
            )


def apply_events(session: Session, events: Iterable[BusEvent]) -> dict[str, int]:
    """Store a batch of bus events; the caller commits (one transaction for the batch).

    Args:
        session: open session.
        events: alert, outage and anomaly events in bus order (order matters only per alert/outage).

    Returns:
        Rows written per table (``alerts``, ``camera_outages``, ``sensor_anomalies``); 0 when every
        event was already applied.

    Raises:
        EventDataError: an event with a naive timestamp (nothing of the batch is written by the caller's
            rollback).
    """
    alerts: list[AlertEvent] = []
    outages: list[OutageEvent] = []
    anomalies: list[AnomalyEvent] = []
    for ev in events:
        check_event(ev)
        if isinstance(ev, AlertEvent):
            alerts.append(ev)
        elif isinstance(ev, OutageEvent):
            outages.append(ev)
        else:
            anomalies.append(ev)
    ensure_zones(session, [a.zone_id for a in alerts] + [a.zone_id for a in anomalies])
    ensure_cameras(session, [a.camera_id for a in alerts] + [o.camera_id for o in outages])
    return {
        "alerts": _write_alerts(session, alerts),
        "camera_outages": _write_outages(session, outages),
        "sensor_anomalies": _write_anomalies(session, anomalies),
    }


def _existing(
    session: Session, table: Table, columns: Sequence[str], ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Current rows of ``ids`` (PostgreSQL: one array parameter; SQLite: chunked IN lists)."""
    out: dict[str, dict[str, Any]] = {}
    cols = [table.c[c] for c in columns]
    if session.get_bind().dialect.name == "postgresql":
        chunks: list[Any] = [table.c.id == any_(bindparam("ids", list(ids), type_=postgresql.ARRAY(String)))]
    else:
        chunks = [table.c.id.in_(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)]
    for where in chunks:
        for row in session.execute(select(*cols).where(where)).mappings():
            out[row["id"]] = dict(row)
    return out


def _write(session: Session, model: Any, rows: list[dict[str, Any]], columns: Sequence[str]) -> int:
    """Upsert full rows by ``id`` as one executemany of a cached statement.

    ``storage.upsert.upsert`` renders one multi-VALUES statement per call, and compiling a statement
    with thousands of bind parameters costs more than the database work; an executemany compiles once
    and the driver batches it (psycopg pipeline, SQLite executemany).
    """
    if not rows:
        return 0
    table: Table = model.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        ins: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        ins = sqlite.insert(table)
    else:
        raise NotImplementedError(f"events_writer does not support dialect {dialect!r}")
    stmt = ins.on_conflict_do_update(
        index_elements=["id"], set_={c: ins.excluded[c] for c in columns if c != "id"}
    )
    session.execute(stmt, rows)
    return len(rows)


def _fold(
    session: Session, model: Any, columns: Sequence[str], events: Sequence[Any], id_of: Any, merge: Any
) -> int:
    """Read the rows the events touch, merge each event in order, upsert the rows that changed."""
    if not events:
        return 0
    ids = list(dict.fromkeys(id_of(e) for e in events))
    before = _existing(session, model.__table__, columns, ids)
    after: dict[str, dict[str, Any]] = {k: dict(v) for k, v in before.items()}
    for ev in events:
        key = id_of(ev)
        after[key] = merge(after.get(key), ev)
    changed = [after[k] for k in ids if after[k] != before.get(k)]
    return _write(session, model, changed, columns)


# --------------------------------------------------------------------------- alerts
def _new_alert(ev: AlertEvent) -> dict[str, Any]:
    return {
        "id": ev.alert_id, "rule": ev.rule, "severity": ev.severity, "zone_id": ev.zone_id,
        "camera_id": ev.camera_id, "track_id": ev.track_id, "status": "open", "started_at": ev.occurred_at,
        "last_seen_at": ev.occurred_at, "ended_at": None, "start_frame": ev.frame, "end_frame": None,
        "video_ts": ev.video_ts, "source": ev.source, "people": ev.people, "details": dict(ev.details),
        "snapshot_path": ev.snapshot, "clip_path": ev.clip, "captured_at": None, "inferred_at": None,
        "published_at": None, "updates": 0,
    }  # fmt: skip


def _set_latency(row: dict[str, Any], ev: AlertEvent) -> None:
    if ev.latency is not None:
        row["captured_at"] = ev.latency.captured_at
        row["inferred_at"] = ev.latency.inferred_at
        row["published_at"] = ev.latency.published_at


def merge_alert(row: dict[str, Any] | None, ev: AlertEvent) -> dict[str, Any]:
    """Fold one alert event into its row (``None`` = unknown alert); returns the new row, input untouched.

    The merge is monotonic: applying the same event twice gives the same row as applying it once.
    """
    if row is None:
        row = _new_alert(ev)
        _set_latency(row, ev)
        if ev.phase == "updated":
            row["updates"] = 1
    else:
        row = dict(row)
        if ev.phase == "started":
            # The start is authoritative for what the alert is and when it began.
            if ev.occurred_at < row["started_at"]:
                row.update(started_at=ev.occurred_at, start_frame=ev.frame, video_ts=ev.video_ts)
            row.update(
                rule=ev.rule, severity=ev.severity, track_id=ev.track_id, source=ev.source or row["source"]
            )
            _set_latency(row, ev)
        elif ev.phase == "updated" and ev.occurred_at > row["last_seen_at"]:
            row["updates"] += 1
            row["details"] = {**(row["details"] or {}), **ev.details}
            if ev.people is not None:
                row["people"] = ev.people
        if ev.phase != "started" and row["captured_at"] is None:
            _set_latency(row, ev)
        row["last_seen_at"] = max(row["last_seen_at"], ev.occurred_at)
        row["snapshot_path"] = row["snapshot_path"] or ev.snapshot
        row["clip_path"] = row["clip_path"] or ev.clip
    if ev.phase == "ended" and row["ended_at"] is None:
        row.update(status="closed", ended_at=ev.occurred_at, end_frame=ev.frame)
        row["details"] = {**(row["details"] or {}), **ev.details}
    return row


def _write_alerts(session: Session, events: Sequence[AlertEvent]) -> int:
    return _fold(session, Alert, _ALERT_COLUMNS, events, lambda e: e.alert_id, merge_alert)


# --------------------------------------------------------------------------- outages and anomalies
def merge_outage(row: dict[str, Any] | None, ev: OutageEvent) -> dict[str, Any]:
    """Fold an outage event: the earliest start wins, ``ended_at`` is filled once and never cleared."""
    if row is None:
        return {"id": ev.outage_id, "camera_id": ev.camera_id, "started_at": ev.started_at,
                "ended_at": ev.ended_at, "reason": ev.reason}  # fmt: skip
    row = dict(row)
    row["started_at"] = min(row["started_at"], ev.started_at)
    if row["ended_at"] is None and ev.ended_at is not None:
        row["ended_at"] = ev.ended_at
    row["reason"] = row["reason"] or ev.reason
    return row


def _write_outages(session: Session, events: Sequence[OutageEvent]) -> int:
    return _fold(session, CameraOutage, _OUTAGE_COLUMNS, events, lambda e: e.outage_id, merge_outage)


def merge_anomaly(row: dict[str, Any] | None, ev: AnomalyEvent) -> dict[str, Any]:
    """An anomaly event is complete; a later one with the same id (re-scored, extended) replaces it."""
    return {
        "id": ev.anomaly_id, "zone_id": ev.zone_id, "asset": ev.asset, "started_at": ev.started_at,
        "ended_at": ev.ended_at, "score": ev.score, "channels": list(ev.channels), "category": ev.category,
        "method": ev.method,
    }  # fmt: skip


def _write_anomalies(session: Session, events: Sequence[AnomalyEvent]) -> int:
    return _fold(session, SensorAnomaly, _ANOMALY_COLUMNS, events, lambda e: e.anomaly_id, merge_anomaly)
