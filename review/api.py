"""JSON API of the dashboard (``/api/...``; OpenAPI docs at ``/docs``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from floorwatch.review.auth import DashboardState, require_bearer, state
from floorwatch.review.fatigue import ThresholdSuggestion, suggest_threshold_changes
from floorwatch.review.reports import ReportInfo, list_reports
from floorwatch.schemas.assessment import AssessmentContext
from floorwatch.schemas.evidence import AlertSummary, DismissalRate, ZoneEvidence
from floorwatch.schemas.filters import AlertFilter
from floorwatch.schemas.llm import LEVEL_RANK, HazardCount
from floorwatch.schemas.tables import Alert, RiskAssessment, Zone
from floorwatch.storage import queries

router = APIRouter(prefix="/api", tags=["api"])

MAX_LIMIT = 200
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1..{MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip")]
Days = Annotated[int, Query(ge=1, le=366, description="Look back this many days")]


class AlertQuery(AlertFilter):
    """Filters plus the page (FastAPI flattens one query model into query parameters)."""

    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"Page size, 1..{MAX_LIMIT}")
    offset: int = Field(0, ge=0, le=1_000_000, description="Rows to skip")


class AlertPage(BaseModel):
    items: list[AlertSummary]
    total: int
    limit: int
    offset: int


class ReviewRequest(BaseModel):
    """An operator's verdict on an alert. Dismissing as a false positive needs a reason."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["acknowledged", "dismissed"]
    reason: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _reason_for_dismissal(self) -> ReviewRequest:
        if self.action == "dismissed" and not (self.reason or "").strip():
            raise ValueError("dismissing an alert needs a reason (why is it a false positive?)")
        return self


# RiskOut.of reads each row's evidence links: load them with the rows (one query) instead of one query per row
_LINKS = selectinload(RiskAssessment.evidence)


class RiskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    zone_id: str
    period_start: datetime
    period_end: datetime
    status: str
    error: str | None
    level: str | None
    score: float | None
    trend: str | None
    top_hazards: list[HazardCount]
    summary: str
    actions: list[str]
    context: AssessmentContext | None = None  # procedure gaps, time patterns, claims audit (narrative)
    model: str
    created_at: datetime
    has_evidence: bool = Field(
        True, description="False when the period held no evidence at all: level and score are then null (not 'low 0')"
    )

    @classmethod
    def of(cls, ra: RiskAssessment) -> RiskOut:
        """The row as served; a period without any evidence item is unranked, as in the report."""
        out = cls.model_validate(ra)
        # the report's rule (ZoneEvidence.is_empty): nothing linked but manual sections; such a period scores 0
        if not ra.score and not any(e.kind != "manual" for e in ra.evidence):
            return out.model_copy(update={"has_evidence": False, "level": None, "score": None, "trend": None})
        return out


class ZoneOut(BaseModel):
    id: str
    name: str
    latest: RiskOut | None


class RiskPage(BaseModel):
    items: list[RiskOut]
    total: int
    limit: int
    offset: int


class FatigueOut(BaseModel):
    start: datetime
    end: datetime
    rates: list[DismissalRate]
    suggestions: list[ThresholdSuggestion]


def alert_page(st: DashboardState, filters: AlertFilter, limit: int, offset: int) -> AlertPage:
    """One page of alerts matching ``filters``, newest first, with the total count."""
    with st.sessions() as s:
        items = queries.list_alerts(s, filters, limit=limit, offset=offset)
        total = queries.count_alerts(s, filters)
    return AlertPage(items=items, total=total, limit=limit, offset=offset)


def zones_overview(st: DashboardState) -> list[ZoneOut]:
    """Every zone with its newest successful assessment: the latest period (then the newest row), as the zone's
    risk page orders them. (The highest row id was taken before: a re-run of an older period updates its rows in
    place, so an empty exploratory run of an earlier year showed as every zone's latest.)"""
    with st.sessions() as s:
        rank = func.row_number().over(
            partition_by=RiskAssessment.zone_id, order_by=(RiskAssessment.period_end.desc(), RiskAssessment.id.desc())
        ).label("rank")
        newest = select(RiskAssessment.id, rank).where(RiskAssessment.status == "ok").subquery()
        latest = {ra.zone_id: RiskOut.of(ra) for ra in s.scalars(
            select(RiskAssessment).options(_LINKS).join(newest, RiskAssessment.id == newest.c.id).where(newest.c.rank == 1)
        )}  # fmt: skip
        zones = list(s.scalars(select(Zone).order_by(Zone.id)))
    out = [ZoneOut(id=z.id, name=z.name, latest=latest.get(z.id)) for z in zones]
    # level first (a zone made critical by a stated death outranks a higher score), then score
    return sorted(out, key=lambda z: (
        (-LEVEL_RANK.get(z.latest.level, 0), -(z.latest.score or 0)) if z.latest else (1, 0.0), z.id
    ))


def latest_assessment(st: DashboardState, zone_id: str) -> RiskOut | None:
    """The zone's newest successful assessment (latest period, then newest row), as :func:`zones_overview` picks it."""
    with st.sessions() as s:
        row = s.scalars(
            select(RiskAssessment).options(_LINKS).where(RiskAssessment.zone_id == zone_id, RiskAssessment.status == "ok")
            .order_by(RiskAssessment.period_end.desc(), RiskAssessment.id.desc()).limit(1)
        ).first()  # fmt: skip
        return RiskOut.of(row) if row is not None else None


def risk_page(st: DashboardState, zone_id: str, limit: int, offset: int) -> RiskPage:
    """Assessments of one zone, newest period first."""
    with st.sessions() as s:
        if s.get(Zone, zone_id) is None:
            raise HTTPException(404, f"no zone {zone_id!r}")
        cond = RiskAssessment.zone_id == zone_id
        rows = s.scalars(
            select(RiskAssessment).options(_LINKS).where(cond).order_by(RiskAssessment.period_end.desc(), RiskAssessment.id.desc())
            .limit(limit).offset(offset)
        )  # fmt: skip
        items = [RiskOut.of(r) for r in rows]
        total = int(s.scalar(select(func.count()).select_from(RiskAssessment).where(cond)) or 0)
    return RiskPage(items=items, total=total, limit=limit, offset=offset)


def alert_span(st: DashboardState) -> tuple[datetime, datetime] | None:
    """First alert start and last alert activity in the database (None without alerts)."""
    with st.sessions() as s:
        first, last = s.execute(
            select(func.min(Alert.started_at), func.max(func.coalesce(Alert.ended_at, Alert.last_seen_at)))
        ).one()
    if first is None or last is None:
        return None
    # min/max skip the column type on some dialects: normalise to aware UTC.
    first, last = (v if isinstance(v, datetime) else datetime.fromisoformat(str(v)) for v in (first, last))
    return first.replace(tzinfo=first.tzinfo or UTC), last.replace(tzinfo=last.tzinfo or UTC)


def fatigue(st: DashboardState, days: int | None) -> FatigueOut:
    """Dismissal rates and the threshold changes they suggest, over the last ``days`` before now, or
    (``days`` None) over the span of the stored alerts, as the risk report does (a replayed recording from
    2024 still shows); without alerts, the last 30 days."""
    end = datetime.now(UTC)
    start = end - timedelta(days=days or 30)
    span = alert_span(st) if days is None else None
    if span is not None:
        start, end = span[0], max(span[1], span[0] + timedelta(seconds=1))
    with st.sessions() as s:
        rates = queries.dismissal_rates(s, start, end)
    return FatigueOut(
        start=start, end=end, rates=rates, suggestions=suggest_threshold_changes(rates, st.settings)
    )


@router.get("/alerts", response_model=AlertPage, summary="List alerts (filtered, paginated, newest first)")
def api_alerts(request: Request, q: Annotated[AlertQuery, Query()]) -> AlertPage:
    return alert_page(state(request), q, q.limit, q.offset)


@router.get("/alerts/{alert_id}", response_model=AlertSummary, summary="One alert")
def api_alert(request: Request, alert_id: str) -> AlertSummary:
    with state(request).sessions() as s:
        row = s.get(Alert, alert_id)
        if row is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        return AlertSummary.model_validate(row, from_attributes=True)


@router.post(
    "/alerts/{alert_id}/review", response_model=AlertSummary, dependencies=[Depends(require_bearer)],
    summary="Acknowledge an alert or dismiss it as a false positive (needs the bearer token)",
)  # fmt: skip
def api_review(request: Request, alert_id: str, body: ReviewRequest) -> AlertSummary:
    with state(request).sessions() as s:
        try:
            out = queries.review_alert(s, alert_id, body.action, body.reason)
        except queries.AlertNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        s.commit()
    return out


@router.get("/zones", response_model=list[ZoneOut], summary="Zones with their latest risk assessment")
def api_zones(request: Request) -> list[ZoneOut]:
    return zones_overview(state(request))


@router.get("/zones/{zone_id}/risk", response_model=RiskPage, summary="Risk history of a zone")
def api_zone_risk(request: Request, zone_id: str, limit: Limit = 50, offset: Offset = 0) -> RiskPage:
    return risk_page(state(request), zone_id, limit, offset)


@router.get(
    "/zones/{zone_id}/evidence", response_model=ZoneEvidence, summary="What happened in a zone lately"
)
def api_zone_evidence(request: Request, zone_id: str, days: Days = 7) -> ZoneEvidence:
    end = datetime.now(UTC)
    with state(request).sessions() as s:
        if s.get(Zone, zone_id) is None:
            raise HTTPException(404, f"no zone {zone_id!r}")
        return queries.zone_evidence(s, zone_id, end - timedelta(days=days), end)


@router.get(
    "/fatigue", response_model=FatigueOut, summary="Dismissal rates per zone and rule, threshold suggestions"
)
def api_fatigue(
    request: Request,
    days: Annotated[int | None, Query(ge=1, le=366, description="Last N days; default: the span of the alerts")] = None,
) -> FatigueOut:
    return fatigue(state(request), days)


@router.get("/reports", response_model=list[ReportInfo], summary="Rendered reports under media/reports")
def api_reports(request: Request, limit: Limit = 50, offset: Offset = 0) -> list[ReportInfo]:
    return list_reports(state(request).media_dir, limit, offset)
