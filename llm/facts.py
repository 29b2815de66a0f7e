"""Build a zone's fact sheet (``schemas.facts.FactSheet``) from its stored evidence and computed risk.

Every fact is one line in words a claim can be checked against: numbers written as digits, event
words taken from the stored data (report text, alert rule, anomaly category, machine signal), never
invented here. Ids: ``score``, ``count:<kind>``, ``alerts:<rule>``, ``hazard:<class>``, the evidence
key for items (``incident:12``, ``alert:a1``, ``anomaly:x``, ``outage:y``), ``pattern:<n>``,
``signal:<n>``, ``gap:<hazard>``.

:func:`template_summary` renders the summary used when no model claim survives verification; it
says only what the facts say.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from floorwatch.llm.prompts import sanitize_untrusted
from floorwatch.llm.severity import incident_severity
from floorwatch.schemas.evidence import IncidentSummary, ZoneEvidence
from floorwatch.schemas.facts import Fact, FactSheet
from floorwatch.schemas.llm import ZoneRisk
from floorwatch.schemas.manuals import ZoneContext
from floorwatch.wording import count_noun

UTC_ZONE = ZoneInfo("UTC")

TOP_INCIDENTS = 6
TOP_ALERTS = 4
REPORT_CHARS = 160  # one line of report text per incident fact
ALERT_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}


def _label(name: str) -> str:
    return name.replace("_", " ")


def incident_fact(inc: IncidentSummary, tz: ZoneInfo = UTC_ZONE) -> Fact:
    """``incident:<id>``: date, its title and the start of the (redacted) report text, and its extracted class/severity.

    The text's first ``REPORT_CHARS`` characters follow a title of its own (a Markdown report's ``title:``), so a
    claim about what the report says can cite it; a title that is only the text's start (a CSV row's) is not repeated.
    """
    body = " ".join(inc.redacted_text.split())
    title = " ".join(inc.title.split())
    own_title = bool(title) and not body.startswith(title.removesuffix("...").rstrip())
    head = (f"{title[:REPORT_CHARS]} - " if own_title else "") + body[:REPORT_CHARS]
    parts = [f"incident report {inc.id}"]
    if inc.occurred_at is not None:
        parts.append(f"on {inc.occurred_at.astimezone(tz):%Y-%m-%d}")
    text = " ".join(parts) + f": {sanitize_untrusted(head, len(head))}"
    if inc.hazard_category:
        text += f"; hazard class {_label(inc.hazard_category)}"
    if inc.severity is not None and inc.potential_severity is not None:
        text += f"; actual severity {inc.severity} of 5, potential severity {inc.potential_severity} of 5"
    if inc.injury is not None:
        text += "; injury reported" if inc.injury else "; no injury reported"
    if inc.equipment:
        text += f"; equipment {sanitize_untrusted(inc.equipment, 60)}"
    return Fact(id=f"incident:{inc.id}", kind="evidence", text=text)


def _count_facts(ev: ZoneEvidence) -> list[Fact]:
    dismissed = sum(a.review == "dismissed" for a in ev.alerts)
    alerts = count_noun(len(ev.alerts), "alert")
    if ev.alerts_by_severity:
        alerts += " (" + ", ".join(f"{n} {s}" for s, n in sorted(ev.alerts_by_severity.items())) + ")"
    if dismissed:
        alerts += f", {dismissed} dismissed by an operator"
    facts = [
        Fact(id="count:incidents", kind="count", text=count_noun(len(ev.incidents), "incident report")),
        Fact(id="count:alerts", kind="count", text=alerts),
        Fact(id="count:anomalies", kind="count", text=count_noun(len(ev.anomalies), "machine anomaly", "machine anomalies")),
        Fact(id="count:outages", kind="count", text=count_noun(len(ev.outages), "camera outage")),
    ]
    for rule, n in sorted(ev.alerts_by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
        facts.append(Fact(id=f"alerts:{rule}", kind="count", text=f"{count_noun(n, _label(rule) + ' alert')}"))
    return facts


def _previous(risk: ZoneRisk) -> str:
    """The previous period in words: its score, or that it had no evidence (a first period's "previous period 0"
    read as a score of 0, which it is not: nothing was scored)."""
    if risk.previous_score is None:
        return ""
    return " (no evidence in the previous period)" if risk.trend == "new" else f" (previous period {risk.previous_score:g})"


def _score_fact(risk: ZoneRisk, period: str) -> Fact:
    b = risk.breakdown
    text = (
        f"zone {risk.zone_id}, {period}: risk score {risk.score:g} of 100, level {risk.level}, trend {risk.trend}"
        + _previous(risk)
        + f"; {count_noun(b.items, 'scored item')}, {b.rate:.1f} items per week"
        + (f"; confidence {100 * b.confidence:.0f}%" if b.confidence is not None else "")
    )
    return Fact(id="score", kind="score", text=text)


def _evidence_facts(ev: ZoneEvidence, tz: ZoneInfo = UTC_ZONE) -> list[Fact]:
    """The top incidents and alerts, every anomaly and outage, with their dates and times in ``tz`` (site time, as
    the report and the dashboard show them: a claim's "7:30" is then the reader's 7:30)."""
    facts = [incident_fact(i, tz) for i in sorted(ev.incidents, key=lambda i: -incident_severity(i))[:TOP_INCIDENTS]]
    notable = sorted(ev.alerts, key=lambda a: (-ALERT_RANK.get(a.severity, 2), a.started_at))[:TOP_ALERTS]
    for a in notable:
        text = (
            f"alert {a.id}: {_label(a.rule)}, {a.severity}, camera {a.camera_id}, "
            f"{a.started_at.astimezone(tz):%Y-%m-%d %H:%M}, lasted {a.duration_seconds:.0f} s"
        )
        facts.append(Fact(id=f"alert:{a.id}", kind="evidence", text=text + (" (dismissed)" if a.review == "dismissed" else "")))
    for an in ev.anomalies:
        channels = ", ".join(map(str, an.channels[:3]))
        text = f"machine anomaly on {an.asset}: {_label(an.category)} ({channels}), {an.started_at.astimezone(tz):%Y-%m-%d %H:%M}"
        facts.append(Fact(id=f"anomaly:{an.id}", kind="anomaly", text=text))
    for o in ev.outages:
        end = f"{o.ended_at.astimezone(tz):%Y-%m-%d %H:%M}" if o.ended_at else "still blind"
        text = f"camera {o.camera_id} blind from {o.started_at.astimezone(tz):%Y-%m-%d %H:%M} to {end}: {_label(o.reason) or 'no reason recorded'}"
        facts.append(Fact(id=f"outage:{o.id}", kind="outage", text=text))
    return facts


def _gap_text(hazard: str, nearest: str | None) -> str:
    """A procedure gap in words: none near it, or the nearest section that reads as another hazard's."""
    if nearest is None:
        return f"no site manual section covers {_label(hazard)}"
    heading = nearest.partition("#")[2] or nearest
    return f"no site manual section was matched to {_label(hazard)} (the nearest, '{sanitize_untrusted(heading, 80)}', reads as another hazard's)"


def fact_sheet(ev: ZoneEvidence, risk: ZoneRisk, ctx: ZoneContext | None = None) -> FactSheet:
    """All facts of one zone and period (see the module docstring for the ids), dates and times in the site's time
    zone (``ctx.timezone``; UTC without a context)."""
    tz = ZoneInfo(ctx.timezone) if ctx is not None else UTC_ZONE
    period = f"{ev.start.astimezone(tz):%Y-%m-%d} to {ev.end.astimezone(tz):%Y-%m-%d}"
    facts = [_score_fact(risk, period), *_count_facts(ev)]
    for h in risk.top_hazards:
        facts.append(
            Fact(id=f"hazard:{h.category}", kind="hazard", text=f"hazard class {_label(h.category)}: {count_noun(h.count, 'incident report')}")
        )
    facts += _evidence_facts(ev, tz)
    if ctx is not None:
        facts += [Fact(id=f"pattern:{n}", kind="pattern", text=line) for n, line in enumerate(ctx.time_lines, 1)]
        facts += [Fact(id=f"signal:{n}", kind="signal", text=s) for n, s in enumerate(ctx.signals, 1)]
        facts += [Fact(id=f"gap:{g}", kind="gap", text=_gap_text(g, ctx.gap_nearest.get(g))) for g in ctx.gaps]
    return FactSheet(zone_id=ev.zone_id, period=period, facts=facts)


def no_evidence_summary(sheet: FactSheet) -> str:
    """The summary of a zone with nothing in the period: it says so instead of "risk score 0, level low" (the score
    of no evidence is not a low risk; the report shows such a zone as "no evidence", unranked)."""
    gaps = [f.text for f in sheet.facts if f.kind == "gap"]
    return (
        f"Zone {sheet.zone_id}, {sheet.period}: no alert, incident report, machine anomaly or camera outage in the "
        "period, so the zone is not scored; no evidence is not evidence of low risk."
        + (" Procedure gaps: " + "; ".join(gaps) + "." if gaps else "")
    )


def template_summary(sheet: FactSheet) -> str:
    """The summary when no claim survives: the score, the counts, the hazards and gaps, from the facts only."""
    by_id = {f.id: f.text for f in sheet.facts}
    counts = ", ".join(by_id[k] for k in ("count:incidents", "count:alerts", "count:anomalies", "count:outages") if k in by_id)
    score = by_id.get("score", f"zone {sheet.zone_id}, {sheet.period}: not scored")
    lines = [score[0].upper() + score[1:] + ".", f"Evidence: {counts}."]
    hazards = [f.text.removeprefix("hazard class ") for f in sheet.facts if f.kind == "hazard"]
    if hazards:
        lines.append("Hazards: " + "; ".join(hazards) + ".")
    gaps = [f.text for f in sheet.facts if f.kind == "gap"]
    if gaps:
        lines.append("Procedure gaps: " + "; ".join(gaps) + ".")
    return " ".join(lines)
