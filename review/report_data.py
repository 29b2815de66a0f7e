"""Collect what the risk report shows from the database: one card per zone, ordered by risk."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.config import ShiftConfig, SiteConfig
from floorwatch.review.media import UnsafeMediaPath, resolve_media, thumbnail_data_uri
from floorwatch.review.report_when import WhenBlock, when_block
from floorwatch.schemas.evidence import AlertSummary, IncidentSummary, ZoneEvidence, ZoneFacts
from floorwatch.schemas.llm import zone_order_key
from floorwatch.schemas.tables import RiskAssessment, Zone
from floorwatch.storage.queries import zone_evidence, zones_with_activity

MAX_EVIDENCE = 25  # items listed per zone card; the rest are counted
MAX_THUMBNAILS = 8  # embedded alert snapshots per zone card (keeps the HTML file small)


class EvidenceItem(BaseModel):
    """One line of a zone card's evidence list."""

    kind: str = Field(description="alert | incident | anomaly | outage")
    ref_id: str
    anchor: str = Field(description="HTML id of the item inside the report")
    time: datetime | None = None
    date_only: bool = Field(False, description="``time`` is a date alone (an incident reported without a time of day)")
    title: str
    text: str = ""
    link: str | None = Field(None, description="Dashboard URL or media file path relative to the report")
    thumbnail: str | None = Field(None, description="PNG data URI of the alert snapshot")
    cited: bool = False


class ZoneCard(BaseModel):
    """Everything the report shows about one zone."""

    zone_id: str
    name: str = ""
    assessed: bool = False
    status: str = "not assessed"
    error: str | None = None
    level: str | None = None
    score: float | None = None
    confidence: float | None = Field(None, description="Share of the score from the zone's own items (score_breakdown)")
    trend: str | None = None
    top_hazards: list[str] = Field(default_factory=list)
    summary: str = ""
    actions: list[str] = Field(default_factory=list)
    narrative: dict[str, Any] | None = Field(None, description="Claims made/verified/dropped (schemas.facts.NarrativeAudit)")
    narrative_note: str = Field("", description="One line on where the summary came from (narrative_note)")
    deaths: list[int] = Field(default_factory=list, description="Fatal incidents of the period (the level is critical)")
    unconfigured: bool = Field(False, description="The zone id is not in the site configuration (a typo in a report?)")
    check_by_hand: list[int] = Field(
        default_factory=list, description="Incidents whose report holds prompt markup: their readings may be steered"
    )
    model: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    dismissed_share: float | None = None
    evidence: list[EvidenceItem] = Field(default_factory=list)
    more_evidence: int = 0
    when: WhenBlock = Field(default_factory=WhenBlock, description="Time patterns and procedures")

    @property
    def sort_key(self) -> tuple[int, float, str]:
        """Level first (a zone made critical by a stated death outranks a higher score), then score, then id."""
        return zone_order_key(self.level, self.score, self.zone_id)


def as_text(item: Any) -> str:
    """A hazard or action (string, :class:`HazardCount` or a dict such as ``{category, count, weight}``) as one line."""
    if isinstance(item, BaseModel):
        item = item.model_dump()
    if isinstance(item, dict):
        head_key = next(
            (k for k in ("category", "hazard", "name", "title", "action", "text") if k in item), None
        )
        head = str(item[head_key]).replace("_", " ") if head_key else ""
        rest = ", ".join(
            f"{k} {round(v, 1):g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in item.items()
            if k != head_key and isinstance(v, str | int | float)
        )
        return f"{head} ({rest})" if head and rest else head or rest
    return str(item).replace("_", " ") if isinstance(item, str) and " " not in item else str(item)


def narrative_note(narrative: Mapping[str, Any] | None, has_evidence: bool) -> str:
    """Where a zone's summary came from, in one line: the verified claims, or the fact-sheet template and why
    (no evidence so no model call, the model's answer unreadable, no claim made, every claim dropped)."""
    if not narrative:
        return ""
    made, verified, dropped = (int(narrative.get(k) or 0) for k in ("made", "verified", "dropped"))
    if not narrative.get("template"):
        return f"Verified: {verified} of {made} claims checked against the cited database facts" + (
            f", {dropped} dropped." if dropped else "."
        )
    why = (
        f"the model's answer could not be read ({narrative['error']})" if narrative.get("error")
        else "the zone has no evidence in this period, so the model was not asked" if not has_evidence
        else "the model made no claim" if not made
        else f"no model claim passed the fact check ({dropped} dropped)"
    )
    return f"Summary rendered from the zone's fact sheet: {why}."


def latest_assessments(session: Session, start: datetime, end: datetime) -> dict[str, RiskAssessment]:
    """Per zone, the assessment for exactly ``[start, end]`` if any, else the newest overlapping one."""
    stmt = select(RiskAssessment).where(
        RiskAssessment.period_start <= end, RiskAssessment.period_end >= start
    )
    best: dict[str, RiskAssessment] = {}
    for ra in session.scalars(stmt):
        key = (ra.period_start == start and ra.period_end == end, ra.period_end, ra.created_at, ra.id)
        cur = best.get(ra.zone_id)
        if cur is None or key > (
            cur.period_start == start and cur.period_end == end,
            cur.period_end,
            cur.created_at,
            cur.id,
        ):
            best[ra.zone_id] = ra
    return best


def _media_link(media_dir: Path, out_dir: Path, rel: str | None) -> str | None:
    if not rel:
        return None
    try:
        real = resolve_media(media_dir, rel)
    except (UnsafeMediaPath, FileNotFoundError):
        return None
    return quote(os.path.relpath(real, out_dir.resolve()).replace(os.sep, "/"))


def _alert_item(
    a: AlertSummary, media_dir: Path, out_dir: Path, base_url: str | None, thumb: bool
) -> EvidenceItem:
    thumbnail = None
    if thumb and a.snapshot_path:
        try:
            thumbnail = thumbnail_data_uri(resolve_media(media_dir, a.snapshot_path))
        except (UnsafeMediaPath, OSError, ValueError):
            thumbnail = None  # a missing or unreadable snapshot must not stop the report
    link = (
        f"{base_url}/alerts/{quote(a.id, safe='')}"
        if base_url
        else _media_link(media_dir, out_dir, a.snapshot_path or a.clip_path)
    )
    review = f", {a.review}" if a.review != "none" else ""
    return EvidenceItem(
        kind="alert",
        ref_id=a.id,
        anchor=f"alert-{a.id}",
        time=a.started_at,
        title=f"{a.rule.replace('_', ' ')} ({a.severity}) on {a.camera_id}",
        text=f"{a.duration_seconds:.0f} s, {a.status}{review}"
        + (f": {a.review_reason}" if a.review_reason else ""),
        link=link,
        thumbnail=thumbnail,
    )


def _zone_link(base_url: str | None, zone_id: str, anchor: str) -> str:
    return f"{base_url}/zones/{quote(zone_id, safe='')}#{anchor}" if base_url else f"#{anchor}"


def hazard_label(inc: IncidentSummary) -> str:
    """``pressure release (other opinion: slip trip)``: the stored class, and the judge's / MiniLM's / the
    mechanism's when they differ, so a reader sees which classifications the opinions did not agree on."""
    label = (inc.hazard_category or "").replace("_", " ")
    others = ", ".join(o.replace("_", " ") for o in inc.hazard_other_opinions)
    return f"{label} (other opinion: {others})" if others else label


def evidence_items(
    ev: ZoneEvidence, cited: set[str], media_dir: Path, out_dir: Path, base_url: str | None, tz: str = "UTC"
) -> tuple[list[EvidenceItem], int]:
    """Evidence of one zone, cited items first then newest first; returns (shown items, number left out).
    End times in the texts are in the site's time zone ``tz``, like every time of the report."""
    zone = ZoneInfo(tz)
    items: list[EvidenceItem] = []
    for inc in ev.incidents:
        excerpt = (
            inc.redacted_text
            if len(inc.redacted_text) <= 400
            else inc.redacted_text[:400].rsplit(" ", 1)[0] + " ..."
        )
        hazard = f" - {hazard_label(inc)}" if inc.hazard_category else ""
        if inc.prompt_markup:
            excerpt += (" [check by hand: the report holds prompt markup (made inert) or words addressed to the model, "
                        "which can sway how it was read]")
        if inc.read_chars is not None:
            excerpt += f" [the model read only the first {inc.read_chars} of {len(inc.redacted_text)} characters]"
        items.append(
            EvidenceItem(
                kind="incident",
                ref_id=str(inc.id),
                anchor=f"incident-{inc.id}",
                time=inc.occurred_at,
                date_only=not inc.time_of_day_known,
                title=(inc.title or f"Incident {inc.source_id}") + hazard,
                text=excerpt,
                link=_zone_link(base_url, ev.zone_id, f"incident-{inc.id}"),
            )
        )
    for an in ev.anomalies:
        items.append(
            EvidenceItem(
                kind="anomaly",
                ref_id=an.id,
                anchor=f"anomaly-{an.id}",
                time=an.started_at,
                title=f"Sensor anomaly on {an.asset} ({an.category})",
                text=f"until {an.ended_at.astimezone(zone):%Y-%m-%d %H:%M}, score {an.score:.2f}, channels: {', '.join(map(str, an.channels)) or '-'}",
                link=_zone_link(base_url, ev.zone_id, f"anomaly-{an.id}"),
            )
        )
    for out in ev.outages:
        until = f"until {out.ended_at.astimezone(zone):%Y-%m-%d %H:%M}" if out.ended_at else "still blind"
        items.append(
            EvidenceItem(
                kind="outage",
                ref_id=out.id,
                anchor=f"outage-{out.id}",
                time=out.started_at,
                title=f"Camera {out.camera_id} outage",
                text=f"{until}; {out.reason}".rstrip("; "),
                link=_zone_link(base_url, ev.zone_id, f"outage-{out.id}"),
            )
        )
    alerts = sorted(ev.alerts, key=lambda a: (f"alert:{a.id}" not in cited, -a.started_at.timestamp()))
    thumbs = 0
    for a in alerts:
        want = thumbs < MAX_THUMBNAILS and (len(items) + thumbs) < MAX_EVIDENCE
        item = _alert_item(a, media_dir, out_dir, base_url, want)
        thumbs += item.thumbnail is not None
        items.append(item)
    for item in items:
        item.cited = f"{item.kind}:{item.ref_id}" in cited
    items.sort(key=lambda i: (not i.cited, -(i.time.timestamp() if i.time else 0)))
    return items[:MAX_EVIDENCE], max(0, len(items) - MAX_EVIDENCE)


def zone_cards(
    session: Session,
    start: datetime,
    end: datetime,
    media_dir: Path,
    out_dir: Path,
    base_url: str | None = None,
    camera_zones: dict[str, list[str]] | None = None,
    shifts: Sequence[ShiftConfig] | None = None,
    tz: str = "UTC",
    facts: Mapping[str, ZoneFacts] | None = None,
) -> list[ZoneCard]:
    """One card per zone that was assessed or had activity in ``[start, end]``, highest risk first.

    ``shifts`` (default: the default site shifts) and ``tz`` are used for the time patterns. A zone in
    ``facts`` (what the risk job computed for exactly this period) uses its evidence and time patterns as
    given; the others are queried. With ``facts`` (a job's own report) only the zones the job assessed show
    an assessment: another zone's stored one (an earlier run, another period or model) is not this job's
    finding, so its card says "not assessed".
    """
    shifts = list(shifts) if shifts is not None else SiteConfig().shifts
    assessments = latest_assessments(session, start, end)
    if facts is not None:
        assessments = {z: a for z, a in assessments.items() if z in facts}
    facts = facts or {}
    zone_ids = sorted(set(assessments) | set(facts) | set(zones_with_activity(session, start, end)))
    names = {
        zid: name for zid, name in session.execute(select(Zone.id, Zone.name).where(Zone.id.in_(zone_ids)))
    }
    cards = []
    for zid in zone_ids:
        known = facts.get(zid)
        ev = known.evidence if known is not None else zone_evidence(session, zid, start, end, camera_zones)
        ra = assessments.get(zid)
        cited = {f"{e.kind}:{e.ref_id}" for e in ra.evidence if e.cited} if ra else set()
        items, more = evidence_items(ev, cited, media_dir, out_dir, base_url, tz)
        card = ZoneCard(
            zone_id=zid,
            name=names.get(zid) or "",
            evidence=items,
            more_evidence=more,
            counts={
                "alerts": len(ev.alerts),
                "incidents": len(ev.incidents),
                "anomalies": len(ev.anomalies),
                "outages": len(ev.outages),
            },
            dismissed_share=ev.dismissed_share,
            check_by_hand=[i.id for i in ev.incidents if i.prompt_markup],
            when=when_block(session, zid, start, end, shifts, tz, ra, ra.actions or [] if ra else [], known),
        )
        if ra is not None:
            narrative = ra.context.narrative.model_dump(mode="json") if ra.context and ra.context.narrative else None
            card = card.model_copy(
                update={
                    "assessed": True,
                    "status": ra.status,
                    "error": ra.error,
                    "level": ra.level,
                    "score": ra.score,
                    "confidence": ra.score_breakdown.confidence if ra.score_breakdown else None,
                    "deaths": ra.score_breakdown.deaths if ra.score_breakdown else [],
                    "trend": ra.trend,
                    "top_hazards": [as_text(h) for h in ra.top_hazards or []],
                    "summary": ra.summary or "",
                    "actions": [as_text(a) for a in ra.actions or []],
                    "narrative": narrative,
                    "narrative_note": narrative_note(narrative, not ev.is_empty),
                    "model": ra.model,
                }
            )
            if ev.is_empty:  # a score of 0 from no evidence is not a low risk: shown as no evidence, unranked
                card = card.model_copy(
                    update={"status": "no evidence", "level": None, "score": None, "confidence": None, "trend": None}
                )
        cards.append(card)
    return sorted(cards, key=lambda c: c.sort_key)


def risk_points(session: Session, end: datetime) -> dict[str, list[tuple[datetime, float]]]:
    """Score history per zone (successful assessments ending at or before ``end``), for the trend figure."""
    stmt = (
        select(RiskAssessment.zone_id, RiskAssessment.period_end, RiskAssessment.score)
        .where(
            RiskAssessment.status == "ok", RiskAssessment.score.is_not(None), RiskAssessment.period_end <= end
        )
        .order_by(RiskAssessment.period_end)
    )
    out: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for zid, t, score in session.execute(stmt):
        out[zid].append((t, float(score)))
    return dict(out)
