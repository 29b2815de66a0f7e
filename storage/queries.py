"""Read queries over the shared database: "what happened in zone Z between t1 and t2", alert lists, reviews.

Every query is a fixed number of SQL statements (no per-row queries) and runs on SQLite and PostgreSQL.
Time windows are closed, ``[start, end]``, and an item belongs to a window when its interval overlaps it:
alerts from ``started_at`` to ``ended_at`` (or ``last_seen_at`` while open), outages to ``ended_at``
(or still ongoing), anomalies to ``ended_at``; incidents are points at ``occurred_at``.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, CompoundSelect, and_, case, func, or_, select, union
from sqlalchemy.orm import Session

from floorwatch.schemas.evidence import (
    AlertSummary,
    AnomalySummary,
    DismissalRate,
    IncidentSummary,
    OutageSummary,
    UnplacedReport,
    UnreadReport,
    ZoneEvidence,
)
from floorwatch.schemas.filters import AlertFilter
from floorwatch.schemas.llm import DEATH_PROBABILITY
from floorwatch.schemas.tables import Alert, CameraOutage, IncidentExtraction, IncidentReport, SensorAnomaly

ReviewAction = Literal["acknowledged", "dismissed"]
REVIEW_ACTIONS = ("acknowledged", "dismissed")
MAX_PAGE = 1000


class AlertNotFoundError(LookupError):
    """No alert with the given id."""


def _check_window(start: datetime | None, end: datetime | None) -> None:
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name}={value.isoformat()} is naive: pass an aware datetime (UTC)")
    if start is not None and end is not None and start > end:
        raise ValueError(f"start {start.isoformat()} is after end {end.isoformat()}")


def _alert_overlaps(start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if end is not None:
        conds.append(Alert.started_at <= end)
    if start is not None:
        conds.append(func.coalesce(Alert.ended_at, Alert.last_seen_at) >= start)
    return conds


def _zone_alerts(session: Session, zone_id: str, start: datetime, end: datetime) -> list[AlertSummary]:
    stmt = (
        select(Alert)
        .where(Alert.zone_id == zone_id, *_alert_overlaps(start, end))
        .order_by(Alert.started_at, Alert.id)
    )
    return [AlertSummary.model_validate(a, from_attributes=True) for a in session.scalars(stmt)]


_EXTRACTION_FIELDS = (
    "hazard_category",
    "severity",
    "potential_severity",
    "potential_severity_calibrated",
    "potential_severity_expected",
    "injury",
    "body_part",
    "equipment",
    "causes",
    "controls",
)


def _zone_incidents(session: Session, zone_id: str, start: datetime, end: datetime) -> list[IncidentSummary]:
    in_window = and_(
        IncidentReport.zone_id == zone_id,
        IncidentReport.occurred_at >= start,
        IncidentReport.occurred_at <= end,
    )
    reports = list(
        session.scalars(
            select(IncidentReport).where(in_window).order_by(IncidentReport.occurred_at, IncidentReport.id)
        )
    )
    if not reports:
        return []
    # Newest successful extraction per incident, fetched in one statement for all incidents.
    ex_stmt = (
        select(IncidentExtraction)
        .where(
            IncidentExtraction.status == "ok",
            IncidentExtraction.incident_id.in_(select(IncidentReport.id).where(in_window)),
        )
        .order_by(IncidentExtraction.incident_id, IncidentExtraction.created_at, IncidentExtraction.id)
    )
    latest: dict[int, IncidentExtraction] = {}
    for ex in session.scalars(ex_stmt):
        latest[ex.incident_id] = ex  # ascending order: the last one seen is the newest
    out = []
    for r in reports:
        data: dict[str, Any] = {
            "id": r.id,
            "source": r.source,
            "source_id": r.source_id,
            "occurred_at": r.occurred_at,
            "time_of_day_known": r.time_of_day_known,
            "zone_id": r.zone_id,
            "title": r.title,
            "redacted_text": r.redacted_text,
        }
        newest = latest.get(r.id)
        if newest is not None:
            data |= {"extraction_model": newest.model, "prompt_version": newest.prompt_version}
            data |= {f: getattr(newest, f) for f in _EXTRACTION_FIELDS}
            data["causes"] = data["causes"] or []
            data["controls"] = data["controls"] or []
            data["hazard_other_opinions"] = other_opinions(newest.hazard_category, (newest.raw or {}).get("judge"))
            shown = (newest.raw or {}).get("read_chars")
            data["read_chars"] = shown if isinstance(shown, int) else None
            data["prompt_markup"] = (newest.raw or {}).get("prompt_markup") is True
            data["stated_death"] = stated_death(newest.raw or {})
        out.append(IncidentSummary(**data))
    return out


def stated_death(raw: dict[str, Any]) -> bool:
    """Whether an extraction row says its report states a death: ``raw["stated_death"]`` as the extraction stored
    it; rows stored before it existed by their judge's P(Yes) to "Did someone die?" (``raw["judge"]["died"]``).
    Never the JSON's severity 5 alone: without the judge's reading no death counts as stated."""
    flag = raw.get("stated_death")
    if isinstance(flag, bool):
        return flag
    judge = raw.get("judge")
    died = judge.get("died") if isinstance(judge, dict) else None
    return isinstance(died, int | float) and died >= DEATH_PROBABILITY


def other_opinions(stored: str | None, judge: Any) -> list[str]:
    """The judge's, the MiniLM second opinion's and the mechanism's classes that differ from the ``stored`` one,
    in that order, without repeats (``raw["judge"]`` of an extraction row, ``llm.judge.Judgement``; anything
    else gives none)."""
    if not isinstance(judge, dict):
        return []
    opinions = [judge.get("hazard_category"), judge.get("second_opinion"), judge.get("mechanism_opinion")]
    return list(dict.fromkeys(o for o in opinions if isinstance(o, str) and o and o != stored))


def _zone_anomalies(session: Session, zone_id: str, start: datetime, end: datetime) -> list[AnomalySummary]:
    stmt = (
        select(SensorAnomaly)
        .where(
            SensorAnomaly.zone_id == zone_id, SensorAnomaly.started_at <= end, SensorAnomaly.ended_at >= start
        )
        .order_by(SensorAnomaly.started_at, SensorAnomaly.id)
    )
    return [AnomalySummary.model_validate(a, from_attributes=True) for a in session.scalars(stmt)]


def _zone_outages(
    session: Session, zone_id: str, start: datetime, end: datetime, camera_zones: dict[str, list[str]] | None
) -> list[OutageSummary]:
    if camera_zones is None:
        cameras: Any = select(Alert.camera_id).where(Alert.zone_id == zone_id).distinct()
    else:
        cameras = sorted(cam for cam, zones in camera_zones.items() if zone_id in zones)
        if not cameras:
            return []
    stmt = (
        select(CameraOutage)
        .where(
            CameraOutage.camera_id.in_(cameras),
            CameraOutage.started_at <= end,
            or_(CameraOutage.ended_at.is_(None), CameraOutage.ended_at >= start),
        )
        .order_by(CameraOutage.started_at, CameraOutage.id)
    )
    return [OutageSummary.model_validate(o, from_attributes=True) for o in session.scalars(stmt)]


def zone_evidence(
    session: Session,
    zone_id: str,
    start: datetime,
    end: datetime,
    camera_zones: dict[str, list[str]] | None = None,
) -> ZoneEvidence:
    """Everything stored about ``zone_id`` that overlaps ``[start, end]``: alerts, incidents, anomalies, outages.

    Args:
        session: open session.
        zone_id: the zone.
        start: window start (aware).
        end: window end (aware), inclusive.
        camera_zones: ``camera id -> zone ids`` (see ``registry.camera_zone_map``) deciding which
            cameras' outages belong to the zone; ``None`` = the cameras that raised alerts in this zone.

    Raises:
        ValueError: naive datetimes or ``start > end``.
    """
    _check_window(start, end)
    alerts = _zone_alerts(session, zone_id, start, end)
    n = len(alerts)
    dismissed = sum(1 for a in alerts if a.review == "dismissed")
    return ZoneEvidence(
        zone_id=zone_id,
        start=start,
        end=end,
        alerts=alerts,
        incidents=_zone_incidents(session, zone_id, start, end),
        anomalies=_zone_anomalies(session, zone_id, start, end),
        outages=_zone_outages(session, zone_id, start, end, camera_zones),
        alerts_by_rule=dict(sorted(Counter(a.rule for a in alerts).items())),
        alerts_by_severity=dict(sorted(Counter(a.severity for a in alerts).items())),
        dismissed_share=(dismissed / n) if n else None,
    )


def zones_with_activity(session: Session, start: datetime, end: datetime) -> list[str]:
    """Sorted ids of zones with an alert, incident or sensor anomaly overlapping ``[start, end]``."""
    _check_window(start, end)
    stmt: CompoundSelect[tuple[str | None]] = union(
        select(Alert.zone_id).where(*_alert_overlaps(start, end)),
        select(IncidentReport.zone_id).where(
            IncidentReport.zone_id.is_not(None),
            IncidentReport.occurred_at >= start,
            IncidentReport.occurred_at <= end,
        ),
        select(SensorAnomaly.zone_id).where(SensorAnomaly.started_at <= end, SensorAnomaly.ended_at >= start),
    )
    return sorted(str(z) for z in session.scalars(stmt))


def _alert_filters(f: AlertFilter) -> list[ColumnElement[bool]]:
    conds = _alert_overlaps(f.start, f.end)
    for column, value in (
        (Alert.camera_id, f.camera),
        (Alert.zone_id, f.zone),
        (Alert.rule, f.rule),
        (Alert.status, f.status),
        (Alert.review, f.review),
    ):
        if value is not None:
            conds.append(column == value)
    return conds


def list_alerts(
    session: Session, filters: AlertFilter | None = None, *, limit: int = 100, offset: int = 0
) -> list[AlertSummary]:
    """Alerts matching every filter of ``filters`` (default: all), newest first (one page).

    Args:
        session: open session.
        filters: camera, zone, rule, status, review and time window (validated when built).
        limit: page size, 1..1000.
        offset: rows to skip, >= 0.

    Raises:
        ValueError: a bad page.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be within 1..{MAX_PAGE}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")
    conds = _alert_filters(filters or AlertFilter())
    stmt = select(Alert).where(*conds).order_by(Alert.started_at.desc(), Alert.id).limit(limit).offset(offset)
    return [AlertSummary.model_validate(a, from_attributes=True) for a in session.scalars(stmt)]


def count_alerts(session: Session, filters: AlertFilter | None = None) -> int:
    """How many alerts ``list_alerts`` would page through with the same filters."""
    conds = _alert_filters(filters or AlertFilter())
    return int(session.scalar(select(func.count()).select_from(Alert).where(*conds)) or 0)


def review_alert(
    session: Session, alert_id: str, action: ReviewAction, reason: str | None = None
) -> AlertSummary:
    """Record an operator's review of an alert (the caller commits). A later review overwrites an earlier one.

    Raises:
        ValueError: ``action`` is not ``acknowledged`` or ``dismissed``, or the reason is over 2000 characters.
        AlertNotFoundError: no such alert.
    """
    if action not in REVIEW_ACTIONS:
        raise ValueError(f"review action must be one of {REVIEW_ACTIONS}, got {action!r}")
    if reason is not None and len(reason) > 2000:
        raise ValueError(f"review reason is {len(reason)} characters, at most 2000 allowed")
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFoundError(f"no alert with id {alert_id!r}")
    alert.review = action
    alert.review_reason = (reason or "").strip() or None
    alert.reviewed_at = datetime.now(UTC)
    session.flush()
    return AlertSummary.model_validate(alert, from_attributes=True)


def dismissal_rates(session: Session, start: datetime, end: datetime) -> list[DismissalRate]:
    """Per (zone, rule): alerts overlapping ``[start, end]``, how many were acknowledged and dismissed."""
    _check_window(start, end)
    stmt = (
        select(
            Alert.zone_id,
            Alert.rule,
            func.count().label("total"),
            func.sum(case((Alert.review == "acknowledged", 1), else_=0)).label("acknowledged"),
            func.sum(case((Alert.review == "dismissed", 1), else_=0)).label("dismissed"),
        )
        .where(*_alert_overlaps(start, end))
        .group_by(Alert.zone_id, Alert.rule)
        .order_by(Alert.zone_id, Alert.rule)
    )
    return [
        DismissalRate(zone_id=z, rule=r, total=int(t), acknowledged=int(a or 0), dismissed=int(d or 0))
        for z, r, t, a, d in session.execute(stmt)
    ]


def unplaced_reports(session: Session, start: datetime, end: datetime) -> list[UnplacedReport]:
    """Incident reports no zone's assessment of ``[start, end]`` includes: undated ones (any time) and
    dated ones in the window without a zone. A risk report lists them so none is lost without a word."""
    _check_window(start, end)
    in_window = and_(IncidentReport.occurred_at >= start, IncidentReport.occurred_at <= end)
    rows = session.scalars(
        select(IncidentReport)
        .where(or_(IncidentReport.occurred_at.is_(None), and_(IncidentReport.zone_id.is_(None), in_window)))
        .order_by(IncidentReport.id)
    )
    return [
        UnplacedReport(id=r.id, source=r.source, title=r.title, occurred_at=r.occurred_at, zone_id=r.zone_id)
        for r in rows
    ]


def unread_reports(session: Session, start: datetime, end: datetime) -> list[UnreadReport]:
    """Dated, zoned incident reports of ``[start, end]`` that have extraction rows but no ``ok`` one (every model
    run on them failed), each with its newest failure's reason. A risk report lists them, so a zone scored
    without its reports' content says so."""
    _check_window(start, end)
    has_ok = select(IncidentExtraction.incident_id).where(IncidentExtraction.status == "ok")
    failed = (
        select(IncidentReport, IncidentExtraction.error)
        .join(IncidentExtraction, IncidentExtraction.incident_id == IncidentReport.id)
        .where(
            IncidentReport.occurred_at >= start, IncidentReport.occurred_at <= end, IncidentReport.zone_id.is_not(None),
            IncidentExtraction.status == "failed", IncidentReport.id.not_in(has_ok),
        )
        .order_by(IncidentReport.id, IncidentExtraction.created_at.desc(), IncidentExtraction.id.desc())
    )
    out: dict[int, UnreadReport] = {}
    for rep, error in session.execute(failed):
        out.setdefault(rep.id, UnreadReport(id=rep.id, source=rep.source, title=rep.title, zone_id=rep.zone_id, error=error or ""))
    return list(out.values())


__all__ = [
    "AlertNotFoundError",
    "count_alerts",
    "dismissal_rates",
    "list_alerts",
    "review_alert",
    "unplaced_reports",
    "unread_reports",
    "zone_evidence",
    "zones_with_activity",
]

