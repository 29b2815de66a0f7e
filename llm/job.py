"""Library entry of the risk job: extract the period's incidents (map), assess each zone (reduce).

Used by ``floorwatch report``, the ``risk_report`` Prefect flow and the incident benchmark alike; the
report files are written by ``floorwatch.review.report_files`` from the returned :class:`RiskReport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import EXTRACTION_MAX_CHARS, Settings
from floorwatch.llm.backends import LLMBackend, make_backend
from floorwatch.llm.extract import extract_reports
from floorwatch.llm.judge import scorer_for
from floorwatch.llm.risk import assess_zones, top_hazards
from floorwatch.llm.risk_context import load_manual_index, zone_context
from floorwatch.manuals.embed import try_load_embedder
from floorwatch.schemas.evidence import ZoneFacts
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


class PeriodAssessment(BaseModel):
    """The reduce step's result: one assessment per zone, and the facts it was computed from (for the report)."""

    zones: list[ZoneRisk]
    facts: dict[str, ZoneFacts]


def assess_period(
    factory: sessionmaker[Session], settings: Settings, backend: LLMBackend, period: Period, zones: Sequence[str],
    on_progress: Callable[[int, int], None] | None = None,
) -> PeriodAssessment:
    """Reduce step over ``zones`` for ``period`` (trend against the previous period of equal length).

    ``on_progress(done, total)`` is called after each zone's evidence is gathered and after each zone's narrative
    (``total`` = 2 x zones; zones without evidence need no narrative and are counted with the last one).
    """
    length = period.end - period.start
    prev_end = period.start - timedelta(microseconds=1)
    cam_map = camera_zone_map(settings) if settings.cameras else None
    total = 2 * len(zones)
    if on_progress is not None:
        on_progress(0, total)
    with session_scope(factory) as session:
        items = []
        contexts = []
        facts: dict[str, ZoneFacts] = {}
        manuals = load_manual_index(session, threads=settings.runtime.torch_threads)
        for zone_id in zones:
            ev = zone_evidence(session, zone_id, period.start, period.end, cam_map)
            prev = zone_evidence(session, zone_id, prev_end - length, prev_end, cam_map)
            cfg = settings.zone(zone_id)
            items.append((ev, prev, (cfg.description or cfg.name) if cfg else ""))
            hazards = [h.category for h in top_hazards(ev)]
            ctx = zone_context(session, manuals, ev, hazards, settings.site.shifts, settings.site.timezone)
            contexts.append(ctx)
            facts[zone_id] = ZoneFacts(
                zone_id=zone_id, evidence=ev, time_patterns=ctx.time_patterns, machine_signals=ctx.signals
            )
            if on_progress is not None:
                on_progress(len(items), total)

        def narrated(k: int) -> None:
            if on_progress is not None:
                on_progress(len(zones) + k, total)

        assessed = PeriodAssessment(zones=assess_zones(
            session, backend, items, contexts=contexts, site_prior_shrinkage=settings.llm.site_prior, on_narrated=narrated
        ), facts=facts)
        if on_progress is not None:
            on_progress(total, total)
        return assessed


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
        if since is None or until is None:
            span = data_span(session)
            since, until = since or span.start, until or span.end
        period = Period(start=since, end=until)
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
    on_progress: Callable[[str, int, int], None] | None = None,
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
        on_progress: ``(stage, done, total)`` after each extraction batch (stage ``extraction``) and
            each zone step (stage ``zones``); for a progress bar (``floorwatch.progress``).

    Raises:
        NoDataError: no period given and nothing stored.
        ValueError: ``since`` after ``until`` or naive datetimes.
        ModelNotInstalledError: the chosen backend's model/runtime is missing.
    """
    t0 = time.perf_counter()
    plan = plan_job(settings, factory, since=since, until=until, zones=zones, limit=limit)
    llm = backend or make_backend(settings.llm, backend_name)
    def stage(name: str) -> Callable[[int, int], None] | None:
        return None if on_progress is None else (lambda done, total: on_progress(name, done, total))

    if on_progress is not None:  # each stage's clock starts when its work does, not at its first finished batch
        on_progress("extraction", 0, len(plan.incident_ids))
    outcomes: list[ExtractionOutcome] = extract_reports(
        factory, llm, plan.incident_ids, batch_size=batch_size, max_chars=min(settings.llm.max_report_chars, EXTRACTION_MAX_CHARS),
        on_progress=stage("extraction"),
        judge=scorer_for(llm) if settings.llm.judge else None,
        second_opinion=try_load_embedder(settings.runtime.torch_threads)[0] if settings.llm.judge else None,
    )
    assessed = assess_period(factory, settings, llm, plan.period, plan.zone_ids, on_progress=stage("zones"))
    return RiskReport(
        period=plan.period,
        backend=llm.name,
        model=llm.model_name,
        generated_at=datetime.now(UTC),
        zones=assessed.zones,
        incidents=outcomes,
        facts=assessed.facts,
        seconds=time.perf_counter() - t0,
    )
