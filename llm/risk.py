"""Reduce step: one risk assessment per zone and period. The score is computed; the LLM only writes words.

Risk score (0-100), computed from the zone's evidence in the period, never by the LLM::

    raw   = incidents + alerts + anomalies + outages
    incidents = sum over incident reports of  2 ** (potential_severity - 1)   (1, 2, 4, 8, 16;
                a report not extracted yet counts as potential severity 3 = 4 points)
    alerts    = sum over alerts not dismissed by an operator of
                low 0.5, medium 1, high 2, critical 4
    anomalies = 1.5 per sensor anomaly
    outages   = 1 per camera outage (time blind is time unwatched)
    weeks = max(1, period length in days / 7)   (periods up to a week are not scaled)
    rate  = raw / weeks                          (points per week, so a year is not always "critical")
    score = 100 * (1 - exp(-rate / 20))         (saturating: rate 5 -> 22, 20 -> 63, 40 -> 86)

Level bands: score < 25 low, < 50 medium, < 75 high, else critical.
Trend: the same score for the previous period of equal length; a change of 10 points or more is
``rising`` / ``falling``, else ``stable``; ``new`` when the previous period had no evidence at all.
Top hazards: hazard classes of the extracted incidents ranked by the sum of their incident points.

The LLM sees the computed facts plus the evidence (as delimited, untrusted data) and returns a
summary, actions and the evidence ids it cites. Cited ids that are not in the zone's evidence are
dropped and counted (``dropped_evidence``). Stored as ``RiskAssessment`` + ``RiskEvidence`` rows
(every item in the window linked, ``cited`` set on the ones cited), replaced in place per
``(zone, period, prompt_version, model)`` so a re-run is idempotent.
"""

from __future__ import annotations

import math
from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.llm.backends import LLMBackend
from floorwatch.llm.cache import cached_generate
from floorwatch.llm.prompts import REDUCE_PROMPT_VERSION, extraction_line, reduce_request, repair_request
from floorwatch.llm.risk_context import check_action_citations, context_lines
from floorwatch.schemas.evidence import IncidentSummary, ZoneEvidence
from floorwatch.schemas.llm import (
    EvidenceRef,
    HazardCount,
    IncidentExtraction,
    LLMResult,
    Period,
    RiskLevel,
    ScoreBreakdown,
    Trend,
    ZoneNarrative,
    ZoneRisk,
)
from floorwatch.schemas.manuals import ZoneContext
from floorwatch.schemas.tables import RiskAssessment, RiskEvidence, utcnow

ALERT_POINTS = {"low": 0.5, "medium": 1.0, "high": 2.0, "critical": 4.0}
ANOMALY_POINTS = 1.5
OUTAGE_POINTS = 1.0
UNKNOWN_POTENTIAL = 3
SATURATION = 20.0
LEVEL_BANDS: tuple[tuple[float, RiskLevel], ...] = ((25.0, "low"), (50.0, "medium"), (75.0, "high"))
TREND_DELTA = 10.0
REDUCE_MAX_TOKENS = 512  # the zone narrative + actions + citations; 320 cut real answers short
NOTABLE_ALERTS = 10


def incident_points(potential_severity: int | None) -> float:
    """Points of one incident: ``2 ** (p - 1)``; unknown potential counts as 3."""
    p = UNKNOWN_POTENTIAL if potential_severity is None else max(1, min(5, potential_severity))
    return float(2 ** (p - 1))


def score_breakdown(ev: ZoneEvidence) -> ScoreBreakdown:
    """Points of each term of the formula for one zone's evidence."""
    inc = sum(incident_points(i.potential_severity) for i in ev.incidents)
    alerts = sum(ALERT_POINTS.get(a.severity, 1.0) for a in ev.alerts if a.review != "dismissed")
    anomalies = ANOMALY_POINTS * len(ev.anomalies)
    outages = OUTAGE_POINTS * len(ev.outages)
    raw = inc + alerts + anomalies + outages
    weeks = max(1.0, (ev.end - ev.start).total_seconds() / (7 * 86_400))
    return ScoreBreakdown(
        incidents=inc, alerts=alerts, anomalies=anomalies, outages=outages, raw=raw, weeks=weeks, rate=raw / weeks
    )


def score_from_raw(raw: float) -> float:
    """Saturating map of points per week to 0-100 (one decimal)."""
    return round(100.0 * (1.0 - math.exp(-max(0.0, raw) / SATURATION)), 1)


def level_of(score: float) -> RiskLevel:
    """Level band of a score."""
    for upper, level in LEVEL_BANDS:
        if score < upper:
            return level
    return "critical"


def trend_of(score: float, previous: ZoneEvidence | None) -> tuple[Trend, float | None]:
    """Trend against the previous period's evidence (``None`` = not known)."""
    if previous is None or previous.is_empty:
        return ("stable" if score == 0 else "new"), (None if previous is None else 0.0)
    prev = score_from_raw(score_breakdown(previous).rate)
    if score - prev >= TREND_DELTA:
        return "rising", prev
    if prev - score >= TREND_DELTA:
        return "falling", prev
    return "stable", prev


def top_hazards(ev: ZoneEvidence, k: int = 3) -> list[HazardCount]:
    """Hazard classes of extracted incidents ranked by summed incident points (ties: count, name)."""
    weight: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for inc in ev.incidents:
        if inc.hazard_category:
            weight[inc.hazard_category] += incident_points(inc.potential_severity)
            count[inc.hazard_category] += 1
    ranked = sorted(weight, key=lambda c: (-weight[c], -count[c], c))
    return [HazardCount(category=c, count=count[c], weight=weight[c]) for c in ranked[:k]]


def evidence_refs(ev: ZoneEvidence) -> list[EvidenceRef]:
    """Every evidence item of the window, as ``(kind, id)``."""
    return (
        [EvidenceRef(kind="incident", id=str(i.id)) for i in ev.incidents]
        + [EvidenceRef(kind="alert", id=a.id) for a in ev.alerts]
        + [EvidenceRef(kind="anomaly", id=a.id) for a in ev.anomalies]
        + [EvidenceRef(kind="outage", id=o.id) for o in ev.outages]
    )


def evidence_lines(ev: ZoneEvidence) -> list[str]:
    """Prompt lines, most important first: incidents by potential severity, notable alerts, anomalies, outages."""
    incidents = sorted(ev.incidents, key=lambda i: -(i.potential_severity or UNKNOWN_POTENTIAL))
    lines = [
        extraction_line(i.id, _as_extraction(i), i.redacted_text) for i in incidents
    ]
    if ev.alerts:
        lines.append(f"alert counts by severity: {ev.alerts_by_severity}; by rule: {ev.alerts_by_rule}")
        notable = sorted(ev.alerts, key=lambda a: -ALERT_POINTS.get(a.severity, 1.0))[:NOTABLE_ALERTS]
        lines += [
            f"[alert:{a.id}] {a.rule} {a.severity} at {a.started_at:%Y-%m-%d %H:%M} camera {a.camera_id}"
            + (" (dismissed)" if a.review == "dismissed" else "")
            for a in notable
        ]
    lines += [
        f"[anomaly:{a.id}] {a.category} on {a.asset} ({', '.join(map(str, a.channels[:3]))}) score {a.score:.2f}"
        for a in ev.anomalies
    ]
    lines += [f"[outage:{o.id}] camera {o.camera_id} blind from {o.started_at:%Y-%m-%d %H:%M} {o.reason}" for o in ev.outages]
    return lines


def _as_extraction(inc: IncidentSummary) -> IncidentExtraction | None:
    if not inc.hazard_category or inc.severity is None or inc.potential_severity is None:
        return None
    return IncidentExtraction.model_construct(
        hazard_category=inc.hazard_category,
        severity=inc.severity,
        potential_severity=inc.potential_severity,
        injury=bool(inc.injury),
        equipment=inc.equipment,
        causes=list(inc.causes),
    )


def check_citations(cited_ids: list[str], refs: list[EvidenceRef]) -> tuple[list[EvidenceRef], int]:
    """Keep cited ids that exist in the zone's evidence (``kind:id``, brackets tolerated); count the rest."""
    known = {r.key: r for r in refs}
    kept: list[EvidenceRef] = []
    dropped = 0
    for raw in cited_ids:
        ref = known.get(raw.strip().strip("[]").strip())
        if ref is None:
            dropped += 1
        elif ref not in kept:
            kept.append(ref)
    return kept, dropped


def compute_zone(ev: ZoneEvidence, previous: ZoneEvidence | None) -> ZoneRisk:
    """Everything about a zone that is computed, not written by the LLM (summary empty)."""
    breakdown = score_breakdown(ev)
    score = score_from_raw(breakdown.rate)
    trend, prev = trend_of(score, previous)
    return ZoneRisk(
        zone_id=ev.zone_id,
        period=Period(start=ev.start, end=ev.end),
        score=score,
        level=level_of(score),
        trend=trend,
        previous_score=prev,
        breakdown=breakdown,
        top_hazards=top_hazards(ev),
        evidence=evidence_refs(ev),
    )


def assess_zones(
    session: Session,
    backend: LLMBackend,
    zones: list[tuple[ZoneEvidence, ZoneEvidence | None, str]],
    *,
    max_chars: int = 3000,
    prompt_version: str = REDUCE_PROMPT_VERSION,
    contexts: list[ZoneContext | None] | None = None,
) -> list[ZoneRisk]:
    """Score every zone, ask the LLM for all narratives in one batch (one repair turn), store the rows.

    Args:
        session: open session; the caller commits.
        backend: LLM backend.
        zones: ``(evidence, previous-period evidence or None, zone description)`` per zone.
        max_chars: cap of the evidence block of one prompt.
        prompt_version: stored with the rows and part of the cache key.
        contexts: per zone, manual sections / gaps / time patterns (``floorwatch.llm.risk_context``) or None.
    """
    risks = [compute_zone(ev, prev) for ev, prev, _ in zones]
    ctxs = contexts if contexts is not None else [None] * len(zones)
    requests = []
    for risk, (ev, _, description), ctx in zip(risks, zones, ctxs, strict=True):
        header = {
            "zone": ev.zone_id,
            "description": description[:300],
            "period": f"{ev.start:%Y-%m-%d} to {ev.end:%Y-%m-%d}",
            "score": risk.score,
            "level": risk.level,
            "trend": risk.trend,
            "top_hazards": [h.category for h in risk.top_hazards],
        }
        if ctx is not None and ctx.gaps:
            header["procedure_gaps"] = ctx.gaps
        extra = context_lines(ctx) if ctx is not None else None
        req = reduce_request(ev.zone_id, header, evidence_lines(ev), max_chars, extra)
        requests.append(req.model_copy(update={"max_tokens": REDUCE_MAX_TOKENS}))
    results = cached_generate(session, backend, requests, ZoneNarrative, prompt_version)
    failed = [i for i, r in enumerate(results) if r.parsed is None]
    if failed:
        retry = [repair_request(requests[i], results[i].raw, results[i].error or "") if results[i].raw else requests[i] for i in failed]
        for i, res in zip(failed, cached_generate(session, backend, retry, ZoneNarrative, prompt_version), strict=True):
            results[i] = res if res.parsed else res.model_copy(update={"error": f"after one repair retry: {res.error}"})
    out = []
    for risk, res, ctx in zip(risks, results, ctxs, strict=True):
        risk = _with_narrative(risk, res, backend.model_name, prompt_version, ctx)
        store_assessment(session, risk, manual_section_ids(ctx))
        out.append(risk)
    return out


def _with_narrative(
    risk: ZoneRisk, res: LLMResult[ZoneNarrative], model: str, version: str, ctx: ZoneContext | None = None
) -> ZoneRisk:
    update: dict = {"model": model, "prompt_version": version}
    if ctx is not None:
        update |= {
            "procedure_gaps": ctx.gaps,
            "context_notes": ctx.time_lines + ctx.signals,
            "time_patterns": ctx.patterns,
            "machine_signals": ctx.signals,
        }
    if res.parsed is None:
        update |= {"status": "failed", "error": res.error or "no narrative"}
    else:
        cited, dropped = check_citations(res.parsed.evidence_ids, risk.evidence)
        actions, refs, dropped_refs = (
            check_action_citations(res.parsed.actions, ctx) if ctx is not None else (res.parsed.actions, [], 0)
        )
        update |= {
            "summary": res.parsed.summary, "actions": actions, "cited": cited, "dropped_evidence": dropped,
            "manual_refs": refs, "dropped_manual_refs": dropped_refs,
        }
    return risk.model_copy(update=update)


def manual_section_ids(ctx: ZoneContext | None) -> dict[str, list[str]]:
    """``document#heading`` citation -> ids of the manual sections shown under it (parts share a heading)."""
    out: dict[str, list[str]] = defaultdict(list)
    for hits in (ctx.hits_by_hazard.values() if ctx is not None else []):
        for hit in hits:
            if hit.id not in out[hit.citation]:
                out[hit.citation].append(hit.id)
    return dict(out)


def context_json(risk: ZoneRisk) -> dict:
    """The ``risk_assessments.context`` document of a zone's computed context."""
    signals = set(risk.machine_signals)
    return {
        "procedure_gaps": list(risk.procedure_gaps),
        "manual_refs": list(risk.manual_refs),
        "dropped_manual_refs": risk.dropped_manual_refs,
        "time_notes": [n for n in risk.context_notes if n not in signals],
        "time_patterns": [s.model_dump(mode="json") for s in risk.time_patterns],
        "machine_signals": list(risk.machine_signals),
    }


def store_assessment(
    session: Session, risk: ZoneRisk, manual_ids: dict[str, list[str]] | None = None
) -> RiskAssessment:
    """Insert or replace the assessment of ``(zone, period, prompt_version, model)`` with all its evidence links.

    Args:
        session: open session; the caller commits.
        risk: the zone's assessment.
        manual_ids: citation -> manual section ids (``manual_section_ids``); each cited section is
            linked as ``RiskEvidence(kind="manual", cited=True)``.
    """
    row = session.scalar(
        select(RiskAssessment).where(
            RiskAssessment.zone_id == risk.zone_id,
            RiskAssessment.period_start == risk.period.start,
            RiskAssessment.period_end == risk.period.end,
            RiskAssessment.prompt_version == risk.prompt_version,
            RiskAssessment.model == risk.model,
        )
    )
    if row is None:
        row = RiskAssessment(
            zone_id=risk.zone_id,
            period_start=risk.period.start,
            period_end=risk.period.end,
            prompt_version=risk.prompt_version,
            model=risk.model,
        )
        session.add(row)
    row.status = risk.status
    row.error = risk.error
    row.level = risk.level
    row.score = risk.score
    row.score_breakdown = risk.breakdown.model_dump()
    row.trend = risk.trend
    row.top_hazards = [h.model_dump() for h in risk.top_hazards]
    row.summary = risk.summary
    row.actions = list(risk.actions)
    row.dropped_evidence = risk.dropped_evidence
    row.context = context_json(risk)
    row.created_at = utcnow()
    manual = [("manual", sid) for ref in risk.manual_refs for sid in (manual_ids or {}).get(ref, [])]
    cited = {r.key for r in risk.cited} | {f"manual:{sid}" for _, sid in manual}
    wanted = list(dict.fromkeys([*((r.kind, r.id) for r in risk.evidence), *manual]))
    existing = {(e.kind, e.ref_id): e for e in row.evidence}
    for key, link in existing.items():
        if key not in set(wanted):
            row.evidence.remove(link)
        else:
            link.cited = f"{key[0]}:{key[1]}" in cited
    for kind, ref_id in wanted:
        if (kind, ref_id) not in existing:
            row.evidence.append(RiskEvidence(kind=kind, ref_id=ref_id, cited=f"{kind}:{ref_id}" in cited))
    session.flush()
    return row
