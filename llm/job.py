"""Library entry of the risk job: extract the period's incidents (map), assess each zone (reduce).

Used by ``floorwatch report``, the ``risk_report`` Prefect flow and the incident benchmark alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import Settings
from floorwatch.llm.backends import LLMBackend, make_backend
from floorwatch.llm.extract import extract_reports
from floorwatch.llm.judge import scorer_for
from floorwatch.llm.risk import assess_zones, top_hazards
from floorwatch.llm.risk_context import load_manual_index, zone_context
from floorwatch.schemas.llm import ExtractionOutcome, Period, RiskReport, ZoneRisk
from floorwatch.schemas.tables import Alert, CameraOutage, IncidentReport, SensorAnomaly, Zone
from floorwatch.storage.db import session_scope
from floorwatch.storage.queries import zone_evidence, zones_with_activity
from floorwatch.storage.registry import camera_zone_map, sync_site


class NoDataError(LookupError):
    """The database holds nothing to report on (no incidents, alerts, anomalies or outages)."""


def data_span(session: Session) -> Period:
    """First and last timestamp of any stored incident, alert, anomaly or outage.

    Raises:
        NoDataError: the database is empty.
    """
    bounds = [
        session.execute(select(func.min(IncidentReport.occurred_at), func.max(IncidentReport.occurred_at))).one(),
        session.execute(select(func.min(Alert.started_at), func.max(Alert.last_seen_at))).one(),
        session.execute(select(func.min(SensorAnomaly.started_at), func.max(SensorAnomaly.ended_at))).one(),
        session.execute(select(func.min(CameraOutage.started_at), func.max(CameraOutage.started_at))).one(),
    ]
    lows = [_aware(lo) for lo, _ in bounds if lo is not None]
    highs = [_aware(hi) for _, hi in bounds if hi is not None]
    if not lows:
        raise NoDataError("the database holds no incidents, alerts, anomalies or outages; ingest or record some first")
    return Period(start=min(lows), end=max(highs))


def _aware(value: datetime) -> datetime:
    # SQLite aggregates bypass the UTC type decorator and come back naive (stored as UTC).
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def select_incidents(session: Session, period: Period, zones: Sequence[str] | None, limit: int | None) -> list[int]:
    """Ids of incident reports in the period (and zones), oldest first, at most ``limit``."""
    stmt = select(IncidentReport.id).where(
        IncidentReport.occurred_at >= period.start, IncidentReport.occurred_at <= period.end
    )
    if zones:
        stmt = stmt.where(IncidentReport.zone_id.in_(list(zones)))
    stmt = stmt.order_by(IncidentReport.occurred_at, IncidentReport.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def assess_period(
    factory: sessionmaker[Session], settings: Settings, backend: LLMBackend, period: Period, zones: Sequence[str]
) -> list[ZoneRisk]:
    """Reduce step over ``zones`` for ``period`` (trend against the previous period of equal length)."""
    length = period.end - period.start
    prev_end = period.start - timedelta(microseconds=1)
    cam_map = camera_zone_map(settings) if settings.cameras else None
    with session_scope(factory) as session:
        items = []
        contexts = []
        manuals = load_manual_index(session, threads=settings.runtime.torch_threads)
        for zone_id in zones:
            ev = zone_evidence(session, zone_id, period.start, period.end, cam_map)
            prev = zone_evidence(session, zone_id, prev_end - length, prev_end, cam_map)
            cfg = settings.zone(zone_id)
            items.append((ev, prev, (cfg.description or cfg.name) if cfg else ""))
            hazards = [h.category for h in top_hazards(ev)]
            contexts.append(zone_context(session, manuals, ev, hazards, settings.site.shifts, settings.site.timezone))
        return assess_zones(session, backend, items, contexts=contexts)


class JobPlan(BaseModel):
    """What a risk job will do: the period, the zones to assess and the incidents to extract."""

    period: Period
    zone_ids: list[str]
    incident_ids: list[int]


def plan_job(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    zones: Sequence[str] | None = None,
    limit: int | None = None,
) -> JobPlan:
    """Resolve the period (default: the whole span of the data), the zones and the incidents.

    Raises:
        NoDataError: no period given and nothing stored.
        ValueError: ``since`` after ``until`` or naive datetimes.
    """
    with session_scope(factory) as session:
        sync_site(session, settings)  # configured zones exist as rows before assessments refer to them
        span = data_span(session) if since is None or until is None else None
        period = Period(start=since or span.start, end=until or span.end)  # type: ignore[union-attr]
        if period.start.tzinfo is None or period.end.tzinfo is None:
            raise ValueError("since/until must be timezone-aware")
        if period.start > period.end:
            raise ValueError(f"since ({period.start.isoformat()}) is after until ({period.end.isoformat()})")
        if zones:
            known = set(session.scalars(select(Zone.id))) | {z.id for z in settings.zones}
            unknown = sorted(set(zones) - known)
            if unknown:
                raise ValueError(f"unknown zone(s) {unknown}; known zones: {sorted(known)}")
        active = zones_with_activity(session, period.start, period.end)
        zone_ids = list(zones) if zones else sorted({z.id for z in settings.zones} | set(active))
        return JobPlan(period=period, zone_ids=zone_ids, incident_ids=select_incidents(session, period, zones, limit))


def run_risk_job(
    settings: Settings,
    factory: sessionmaker[Session],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    zones: Sequence[str] | None = None,
    backend: LLMBackend | None = None,
    backend_name: str | None = None,
    limit: int | None = None,
    batch_size: int = 8,
) -> RiskReport:
    """Extract the period's incidents and assess every zone; returns the typed report.

    Args:
        settings: validated configuration.
        factory: sessionmaker of the shared database (``floorwatch.app.open_database``).
        since: period start (aware); default the first stored item.
        until: period end (aware); default the last stored item.
        zones: zone ids; default every configured zone plus every zone with activity in the period.
        backend: an already built backend (reused across calls); default built from ``settings.llm``.
        backend_name: overrides ``settings.llm.backend`` when ``backend`` is None.
        limit: extract at most this many incidents (oldest first).
        batch_size: incidents per LLM batch (commit after each).

    Raises:
        NoDataError: no period given and nothing stored.
        ValueError: ``since`` after ``until`` or naive datetimes.
        ModelNotInstalledError: the chosen backend's model/runtime is missing.
    """
    t0 = time.perf_counter()
    plan = plan_job(settings, factory, since=since, until=until, zones=zones, limit=limit)
    llm = backend or make_backend(settings.llm, backend_name)
    outcomes: list[ExtractionOutcome] = extract_reports(
        factory, llm, plan.incident_ids, batch_size=batch_size, max_chars=min(settings.llm.max_report_chars, 8000),
        judge=scorer_for(llm) if settings.llm.judge else None,
    )
    risks = assess_period(factory, settings, llm, plan.period, plan.zone_ids)
    return RiskReport(
        period=plan.period,
        backend=llm.name,
        model=llm.model_name,
        generated_at=datetime.now(UTC),
        zones=risks,
        incidents=outcomes,
        seconds=time.perf_counter() - t0,
    )


def write_report_files(
    report: RiskReport, out_dir: Path, settings: Settings, factory: sessionmaker[Session]
) -> list[Path]:
    """Write ``report.json`` (the ``--json`` document), ``risk_report.full.json`` (the typed result)
    and, when ``floorwatch.review`` is present, its ``report.html`` / ``report.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("report.json", json.dumps(report.public_json(), indent=2, ensure_ascii=False)),
        ("risk_report.full.json", report.model_dump_json(indent=2)),
    ):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(out_dir / name)
        written.append(out_dir / name)
    try:
        from floorwatch.review.report import render_report
    except ImportError:
        return written
    with session_scope(factory) as session:
        paths = render_report(session, report.period.start, report.period.end, settings.media.dir, out_dir, settings=settings)
    return written + [paths.html, paths.markdown]
