"""Reduce step: one risk assessment per zone and period. The score is computed; the LLM only writes words.

Risk score (0-100), computed from the zone's evidence in the period, never by the LLM. It measures
how severe the zone's evidence is (a severity index), not how much of it there is::

    each item gets a severity s on the 1-5 scale of ``schemas.llm``:
        incident = its calibrated potential severity (``floorwatch calibrate severity``) when there
                   is one, else the LLM's probability-weighted potential severity (``llm.severity``),
                   else its potential_severity digit, else 3 (not extracted yet)
        alert    = low 2, medium 3, high 4, critical 5   (alerts an operator dismissed are left out)
        anomaly  = 3                                      (a machine hazard signal)
        (camera outages carry no severity: they are listed and counted, not scored)
    points(s) = 2 ** (s - 1)                  (1, 2, 4, 8, 16: severe items weigh much more)
    mean  = (sum of points + K * points(3)) / (n + K),  K = 3   (three neutral pseudo-items: a zone's own
                                                                 items outweigh the prior only from the
                                                                 fourth on, so one note cannot set the level)
    score = 100 * log2(mean) / 4              (0 when the zone has no scored item)

With ``assess_zones(..., site_prior_shrinkage=True)`` (config ``llm.site_prior``, off by default), the
pseudo-items are the site's mean points instead of severity 3, again ``K = 3`` of them (empirical-Bayes shrinkage, :func:`site_prior`): a zone with one note is
pulled toward the site's typical severity, a zone with many keeps its own. ``confidence = n / (n + K)``
is the share of the score that comes from the zone's own items; the report shows it.

So a zone whose items are all severity 3 scores about 50, all 4 about 75, all 5 about 100; the level
bands below are the typical potential severity, rounded: up to 2 low, 3 medium, 4 high, 5 critical. Frequency is
reported beside the score (``rate`` = items per week, outages included; ``weeks`` = period length in
weeks, at least 1) and given to the LLM as a fact; it does not move the score, because a plant
with many minor reports is not riskier than one with few serious ones (``benchmarks/incidents.py``
checks that plant scores rank like the plants' mean potential accident level).

Level bands: score < 37.5 low, < 62.5 medium, < 87.5 high, else critical (the midpoints between the
scores of severities 2|3, 3|4 and 4|5). One exception, :func:`level_for`: a zone with a fatal incident in the
period (a stated death: the judge's P(Yes) to "Did someone die?" >= 0.8, ``IncidentSummary.stated_death``) is
critical whatever its score - catastrophic and it happened is the
top cell of any risk matrix (e.g. ISO 45001's risk assessment, the HSE's 5x5 matrix); the breakdown lists the
incidents (``deaths``) and the report names them.
Trend: the same score for the previous period of equal length; a change of 10 points or more is
``rising`` / ``falling``, else ``stable``; ``new`` when the previous period had no evidence at all.
Top hazards: hazard classes of the extracted incidents ranked by the sum of their points.

The LLM sees the computed facts plus the evidence (as delimited, untrusted data) and returns a
summary, actions and the evidence ids it cites. Cited ids that are not in the zone's evidence are
dropped and counted (``dropped_evidence``). Stored as ``RiskAssessment`` + ``RiskEvidence`` rows
(every item in the window linked, ``cited`` set on the ones cited), replaced in place per
``(zone, period, prompt_version, model)`` so a re-run is idempotent.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.llm.backends import LLMBackend
from floorwatch.llm.controls import candidates
from floorwatch.llm.facts import fact_sheet, no_evidence_summary
from floorwatch.llm.grounded import GROUNDED_PROMPT_VERSION, narrate
from floorwatch.llm.risk_context import zone_hazards
from floorwatch.llm.severity import incident_severity
from floorwatch.schemas.assessment import AssessmentContext
from floorwatch.schemas.evidence import IncidentSummary, ZoneEvidence
from floorwatch.schemas.facts import ChosenAction, FactSheet, NarrativeAudit
from floorwatch.schemas.llm import (
    EvidenceRef,
    HazardCount,
    Period,
    RiskLevel,
    ScoreBreakdown,
    Trend,
    ZoneRisk,
)
from floorwatch.schemas.manuals import ZoneContext
from floorwatch.schemas.tables import RiskAssessment, RiskEvidence, utcnow

ALERT_SEVERITY = {"low": 2.0, "medium": 3.0, "high": 4.0, "critical": 5.0}
ANOMALY_SEVERITY = 3.0
PRIOR_ITEMS = 3.0  # neutral pseudo-items: one severity-5 note alone scores 70 (high), not 83; see the docstring
PRIOR_SEVERITY = 3.0
SITE_PRIOR_ITEMS = 3.0  # strength of the site prior in pseudo-items: 3 items of the zone's own weigh as much
LEVEL_BANDS: tuple[tuple[float, RiskLevel], ...] = ((37.5, "low"), (62.5, "medium"), (87.5, "high"))
TREND_DELTA = 10.0
REDUCE_MAX_TOKENS = 512  # the zone narrative + actions + citations; 320 cut real answers short


def points(severity: float) -> float:
    """Points of one item of severity ``s`` (clamped to 1-5): ``2 ** (s - 1)``."""
    return float(2 ** (max(1.0, min(5.0, severity)) - 1))


def incident_points(inc: IncidentSummary) -> float:
    """Points of one incident report (see :func:`incident_severity`)."""
    return points(incident_severity(inc))


class Prior(NamedTuple):
    """What a zone's mean points shrink toward (``points``) and how many items that counts as (``items``)."""

    points: float
    items: float


NEUTRAL_PRIOR = Prior(points(PRIOR_SEVERITY), PRIOR_ITEMS)


def _item_points(ev: ZoneEvidence) -> tuple[list[float], list[float], list[float]]:
    alerts = [points(ALERT_SEVERITY.get(a.severity, 3.0)) for a in ev.alerts if a.review != "dismissed"]
    return [incident_points(i) for i in ev.incidents], alerts, [points(ANOMALY_SEVERITY)] * len(ev.anomalies)


def site_prior(zones: list[ZoneEvidence], items: float = SITE_PRIOR_ITEMS) -> Prior:
    """Empirical-Bayes prior of a site: the mean points of ALL its scored items, worth ``items`` pseudo-items.

    A zone with few items is pulled toward the site's typical severity, one with many keeps its own
    (the shrinkage weight is ``n / (n + items)``; Efron & Morris 1975, "Data analysis using Stein's
    estimator and its generalizations"). ``items`` is a fixed prior strength, not fitted to any data.
    Without scored items anywhere, the neutral prior (severity 3) with the same strength.
    """
    pooled = [p for ev in zones for part in _item_points(ev) for p in part]
    return Prior(sum(pooled) / len(pooled) if pooled else points(PRIOR_SEVERITY), items)


def score_breakdown(ev: ZoneEvidence, prior: Prior = NEUTRAL_PRIOR) -> ScoreBreakdown:
    """Points of each term, the severity index (shrunk toward ``prior``) and the frequency of one zone's evidence."""
    inc, alerts, anomalies = _item_points(ev)
    n = len(inc) + len(alerts) + len(anomalies)
    raw = sum(inc) + sum(alerts) + sum(anomalies)
    mean = (raw + prior.items * prior.points) / (n + prior.items) if n else 0.0
    weeks = max(1.0, (ev.end - ev.start).total_seconds() / (7 * 86_400))
    return ScoreBreakdown(
        incidents=sum(inc),
        alerts=sum(alerts),
        anomalies=sum(anomalies),
        outages=float(len(ev.outages)),
        raw=raw,
        items=n,
        mean_points=mean,
        weeks=weeks,
        rate=(n + len(ev.outages)) / weeks,
        prior_points=prior.points,
        prior_items=prior.items,
        confidence=n / (n + prior.items) if n else 0.0,
        deaths=[i.id for i in ev.incidents if i.stated_death],
    )


def score_of(breakdown: ScoreBreakdown) -> float:
    """``100 * log2(mean points) / 4`` (one decimal); 0 for a zone with no scored item."""
    if breakdown.items == 0 or breakdown.mean_points <= 1.0:
        return 0.0
    return round(min(100.0, 100.0 * math.log2(breakdown.mean_points) / 4.0), 1)


def level_of(score: float) -> RiskLevel:
    """Level band of a score."""
    for upper, level in LEVEL_BANDS:
        if score < upper:
            return level
    return "critical"


def level_for(breakdown: ScoreBreakdown, score: float) -> RiskLevel:
    """The zone's level: critical when an incident of the period states a death (``stated_death``: the
    top row of any risk matrix - catastrophic and it happened), else the band of the score (:func:`level_of`). The
    score itself keeps shrinking toward the prior, so one report still cannot set it."""
    return "critical" if breakdown.deaths else level_of(score)


def trend_of(score: float, previous: ZoneEvidence | None, prior: Prior = NEUTRAL_PRIOR) -> tuple[Trend, float | None]:
    """Trend against the previous period's evidence (``None`` = not known), scored with the same prior."""
    if previous is None or previous.is_empty:
        return ("stable" if score == 0 else "new"), (None if previous is None else 0.0)
    prev = score_of(score_breakdown(previous, prior))
    if score - prev >= TREND_DELTA:
        return "rising", prev
    if prev - score >= TREND_DELTA:
        return "falling", prev
    return "stable", prev


def top_hazards(ev: ZoneEvidence, k: int = 3) -> list[HazardCount]:
    """Hazard classes of extracted incidents ranked by summed points (ties: count, name)."""
    weight: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for inc in ev.incidents:
        if inc.hazard_category:
            weight[inc.hazard_category] += incident_points(inc)
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


def compute_zone(ev: ZoneEvidence, previous: ZoneEvidence | None, prior: Prior = NEUTRAL_PRIOR) -> ZoneRisk:
    """Everything about a zone that is computed, not written by the LLM (summary empty).

    ``prior``: what the severity index shrinks toward; with ``site_prior_shrinkage`` :func:`assess_zones` passes the site's
    (:func:`site_prior`), a lone zone gets the neutral one.
    """
    breakdown = score_breakdown(ev, prior)
    score = score_of(breakdown)
    trend, prev = trend_of(score, previous, prior)
    return ZoneRisk(
        zone_id=ev.zone_id,
        period=Period(start=ev.start, end=ev.end),
        score=score,
        level=level_for(breakdown, score),
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
    prompt_version: str = GROUNDED_PROMPT_VERSION,
    contexts: list[ZoneContext | None] | None = None,
    site_prior_shrinkage: bool = False,
    on_narrated: Callable[[int], None] | None = None,
) -> list[ZoneRisk]:
    """Score every zone, ask the LLM for verified claims and chosen controls (in batches the backend runs at once), store the rows.

    The narrative is grounded (:mod:`floorwatch.llm.grounded`): only claims the verifier accepts
    reach the summary; actions come from the controls library.

    Args:
        session: open session; the caller commits.
        backend: LLM backend.
        zones: ``(evidence, previous-period evidence or None, zone description)`` per zone.
        max_chars: unused (kept for callers); the fact sheet has its own cap.
        prompt_version: stored with the rows and part of the cache key.
        contexts: per zone, manual sections / gaps / time patterns (``floorwatch.llm.risk_context``) or None.
        on_narrated: called with the number of zones with evidence narrated so far, after each batch (progress).
        site_prior_shrinkage: shrink every zone toward the site's mean (:func:`site_prior`) instead of the
            neutral pseudo-items. Off by default: with it, one zone's reports move every other zone's
            score (an injected or over-rated report in one zone raised a calm zone from medium to high
            in ``tests/test_llm_local.py``), and a burst of alerts in one zone lifts the prior of all
            (on the demo site 16 intrusion alerts make it severity 4, so the one-note zone stays first);
            on the development file it ranked plants no better within noise (benchmarks/RESULTS.md).
    """
    del max_chars
    prior = site_prior([ev for ev, _, _ in zones]) if site_prior_shrinkage else NEUTRAL_PRIOR
    risks = [compute_zone(ev, prev, prior) for ev, prev, _ in zones]
    ctxs = contexts if contexts is not None else [None] * len(zones)
    sheets = [fact_sheet(ev, risk, ctx) for (ev, _, _), risk, ctx in zip(zones, risks, ctxs, strict=True)]
    offered = [
        candidates(zone_hazards(ev, [h.category for h in risk.top_hazards], bool(ctx and ctx.signals)), ctx)
        for (ev, _, _), risk, ctx in zip(zones, risks, ctxs, strict=True)
    ]
    narrated = _narrate_non_empty(session, backend, [ev for ev, _, _ in zones], sheets, offered, prompt_version, on_narrated)
    out = []
    for risk, sheet, (summary, actions, audit), ctx in zip(risks, sheets, narrated, ctxs, strict=True):
        risk = _with_claims(risk, sheet, summary, actions, audit, backend.model_name, prompt_version, ctx)
        store_assessment(session, risk, manual_section_ids(ctx))
        out.append(risk)
    return out


def _narrate_non_empty(  # noqa: PLR0913 - the batch's parts, passed through
    session: Session,
    backend: LLMBackend,
    evidence: list[ZoneEvidence],
    sheets: list[FactSheet],
    offered: list[list[ChosenAction]],
    prompt_version: str,
    on_narrated: Callable[[int], None] | None = None,
) -> list[tuple[str, list[ChosenAction], NarrativeAudit]]:
    """:func:`narrate` for the zones with evidence; a zone with none gets the no-evidence summary, no actions and
    no model call (there is nothing for a claim to rest on). ``on_narrated(k)`` after each batch: k zones done.

    Zones go to the model in batches of what the backend runs at once (:func:`_batch_of`): one zone at a time on
    the local model, which answers one request after the other anyway, so a progress line follows each zone (a
    trial's report printed nothing for ten minutes); all at once on vLLM, which batches them.
    """
    busy = [i for i, ev in enumerate(evidence) if not ev.is_empty]
    told: dict[int, tuple[str, list[ChosenAction], NarrativeAudit]] = {}
    step = _batch_of(backend, len(busy))
    for start in range(0, len(busy), step):
        part = busy[start : start + step]
        answers = narrate(session, backend, [sheets[i] for i in part], [offered[i] for i in part], prompt_version)
        told |= dict(zip(part, answers, strict=True))
        if on_narrated is not None:
            on_narrated(start + len(part))
    return [told.get(i, (no_evidence_summary(sheet), [], NarrativeAudit(template=True))) for i, sheet in enumerate(sheets)]


def _batch_of(backend: LLMBackend, n: int) -> int:
    """How many zones to send at once: 1 on the local model, the server's concurrency on an OpenAI-compatible one,
    all ``n`` otherwise (vLLM batches them itself)."""
    name = getattr(backend, "name", "")
    if name == "local":
        return 1
    concurrency = getattr(getattr(backend, "cfg", None), "max_concurrency", None) if name == "openai" else None
    return max(1, int(concurrency) if isinstance(concurrency, int) else n)


def _with_claims(
    risk: ZoneRisk,
    sheet: FactSheet,
    summary: str,
    actions: list[ChosenAction],
    audit: NarrativeAudit,
    model: str,
    version: str,
    ctx: ZoneContext | None,
) -> ZoneRisk:
    update: dict = {"model": model, "prompt_version": version, "summary": summary, "narrative": audit}
    if ctx is not None:
        update |= {
            "procedure_gaps": ctx.gaps,
            "gap_nearest": ctx.gap_nearest,
            "context_notes": ctx.time_lines + ctx.signals,
            "time_patterns": ctx.patterns,
            "machine_signals": ctx.signals,
        }
    verified_ids = [f for c in audit.checks if c.verified for f in c.facts]
    cited, _ = check_citations(verified_ids, risk.evidence)
    unknown = sum(sheet.get(f) is None for c in audit.checks for f in c.facts)
    update |= {
        "actions": [a.sentence() for a in actions],
        "cited": cited,
        "dropped_evidence": unknown,
        "manual_refs": list(dict.fromkeys(a.manual for a in actions if a.manual)),
        "dropped_manual_refs": 0,
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


def context_json(risk: ZoneRisk) -> AssessmentContext:
    """The ``risk_assessments.context`` document of a zone's computed context."""
    signals = set(risk.machine_signals)
    return AssessmentContext(
        procedure_gaps=list(risk.procedure_gaps),
        gap_nearest=dict(risk.gap_nearest),
        manual_refs=list(risk.manual_refs),
        dropped_manual_refs=risk.dropped_manual_refs,
        time_notes=[n for n in risk.context_notes if n not in signals],
        time_patterns=list(risk.time_patterns),
        machine_signals=list(risk.machine_signals),
        narrative=risk.narrative,
    )


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
    row.score_breakdown = risk.breakdown
    row.trend = risk.trend
    row.top_hazards = list(risk.top_hazards)
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
