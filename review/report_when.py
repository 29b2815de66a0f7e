"""*When* risk happens and what the procedures say, per zone card of the risk report.

Time patterns are recomputed from the database for the reported period (so a report of a past run
shows them too); manual citations come from the stored assessment (its ``manual`` evidence links and
``context`` column), resolved to the manual's document and heading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.config import ShiftConfig
from floorwatch.schemas.assessment import AssessmentContext
from floorwatch.schemas.evidence import ZoneFacts
from floorwatch.schemas.tables import ManualSection, RiskAssessment
from floorwatch.schemas.time_patterns import PatternDimension, PatternKind, PatternSeries, TimePatterns
from floorwatch.signals.time_patterns import MIN_EVENTS, overheating_summary, time_patterns

ALPHA = 0.05
MANUAL_REF = re.compile(r"\s*\[manual:([^\]\n]+)\]")
WEEKDAY_NAMES = {
    "Mon": "Mondays",
    "Tue": "Tuesdays",
    "Wed": "Wednesdays",
    "Thu": "Thursdays",
    "Fri": "Fridays",
    "Sat": "Saturdays",
    "Sun": "Sundays",
}


class ShiftRow(BaseModel):
    """One shift of one event kind: count, share with its Wilson 95% interval, share of the time."""

    kind: str
    label: str
    count: int
    share: float
    ci_low: float
    ci_high: float
    expected_share: float
    over: bool = False


class CitedAction(BaseModel):
    """A recommended action with the manual sections it cites."""

    text: str
    citations: list[tuple[str, str]] = Field(default_factory=list, description="(document, heading)")


class WhenBlock(BaseModel):
    """The card's "When" and "Procedures" blocks."""

    pattern_lines: list[str] = Field(default_factory=list)
    shift_rows: list[ShiftRow] = Field(default_factory=list)
    weekday_hour: list[list[int]] | None = Field(None, description="Alerts + incidents, Mon..Sun x hour")
    shift_counts: dict[str, int] = Field(default_factory=dict, description="Alerts + incidents per shift")
    timezone: str = "UTC"
    actions: list[CitedAction] = Field(default_factory=list)
    manual_sections: list[tuple[str, str]] = Field(
        default_factory=list, description="(document, heading) cited"
    )
    procedure_gaps: list[str] = Field(default_factory=list)
    gap_nearest: dict[str, tuple[str, str]] = Field(
        default_factory=dict, description="Per gap, the (document, heading) nearest to it, matched to another topic"
    )
    machine_signals: list[str] = Field(default_factory=list)


KINDS: tuple[PatternKind, ...] = ("incident", "alert")
DIMENSIONS: tuple[PatternDimension, ...] = ("shift", "hour", "weekday")


def p_words(p: float) -> str:
    """``p < 0.001`` or ``p = 0.012`` (two significant digits)."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _where(s: PatternSeries) -> str:
    label = s.peak.label if s.peak is not None else "?"
    if s.dimension == "shift":
        return f"the {label} shift"
    if s.dimension == "hour":
        return f"the hour {label}:00-{(int(label) + 1) % 24:02d}:00"
    return f"on {WEEKDAY_NAMES.get(label, label)}"


def _kind_line(kind: str, series: list[PatternSeries]) -> str:
    """One sentence per event kind: the strongest clustering first, the other dimensions after it; how many of
    them have a date but no time of day (left out of the hour and shift series) when some do."""
    line = _kind_verdict(kind, series)
    undated = max(s.date_only for s in series)
    if undated and not line.endswith("have a date only."):
        line += (f" {undated} of them {'has' if undated == 1 else 'have'} a date only: "
                 f"{'it counts' if undated == 1 else 'they count'} by weekday, not by hour or shift.")
    return line


def _kind_verdict(kind: str, series: list[PatternSeries]) -> str:
    total = max(s.total for s in series)
    found = [s for s in series if s.not_uniform(ALPHA) and s.peak is not None]
    if total < MIN_EVENTS:
        return f"{kind.capitalize()}s ({total}): too few to tell when they happen."
    if not found:
        shift = series[0]
        if shift.p_value is None:
            why = shift.untested or "too few to test for a time pattern"
            timed = f"; {shift.total} with a time of day" if shift.date_only and shift.total else ""
            return f"{kind.capitalize()}s ({total}{timed}): {why}."
        return f"{kind.capitalize()}s ({total}): no clear time pattern ({p_words(shift.p_value)} by shift)."
    first, rest = found[0], found[1:]
    peak = first.peak
    assert peak is not None
    line = (
        f"{kind.capitalize()}s cluster in {_where(first)}: {peak.count} of {total} "
        f"({100 * peak.share:.0f}% of them in {100 * peak.expected_share:.0f}% of the time), {p_words(first.p_value or 0)}"
    )
    if rest:
        line += "; also " + " and ".join(f"{_where(s)} ({p_words(s.p_value or 0)})" for s in rest)
    if any(not s.reliable for s in found):
        line += " (few events: p-values simulated)"
    return line + "."


def pattern_lines(tp: TimePatterns) -> list[str]:
    """Plain-words verdict per event kind: where it clusters, or that there is no clear time pattern."""
    lines = []
    for kind in KINDS:
        series = [tp.get(kind, dim) for dim in DIMENSIONS]
        if any(s.total for s in series):
            lines.append(_kind_line(kind, series))
    return lines


def _shift_rows(tp: TimePatterns) -> list[ShiftRow]:
    rows = []
    for kind in KINDS:
        s = tp.get(kind, "shift")
        if s.total < MIN_EVENTS:
            continue
        sig = s.not_uniform(ALPHA)
        rows += [ShiftRow(kind=kind, **b.model_dump(), over=sig and b.over_represented) for b in s.buckets]
    return rows


def _pair(ref: str) -> tuple[str, str]:
    """``document#heading`` -> (document, heading)."""
    doc, _, heading = ref.partition("#")
    return doc, heading


def split_citations(action: str, sections: dict[str, tuple[str, str]]) -> CitedAction:
    """Take ``[manual:document#heading]`` markers out of an action and resolve them to (document, heading)."""
    cites: list[tuple[str, str]] = []
    for ref in MANUAL_REF.findall(action):
        ref = ref.strip()
        pair = sections.get(ref, _pair(ref))
        if pair not in cites:
            cites.append(pair)
    return CitedAction(text=MANUAL_REF.sub("", action).strip(), citations=cites)


def _cited_sections(session: Session, ra: RiskAssessment) -> dict[str, tuple[str, str]]:
    ids = [e.ref_id for e in ra.evidence if e.kind == "manual"]
    if not ids:
        return {}
    rows = session.execute(
        select(ManualSection.document, ManualSection.heading).where(ManualSection.id.in_(ids))
    ).all()
    return {f"{doc}#{heading}": (doc, heading) for doc, heading in rows}


def when_block(
    session: Session,
    zone_id: str,
    start: datetime,
    end: datetime,
    shifts: Sequence[ShiftConfig],
    tz: str,
    ra: RiskAssessment | None,
    actions: Sequence[Any] = (),
    facts: ZoneFacts | None = None,
) -> WhenBlock:
    """The "When" (time patterns) and "Procedures" blocks of one zone card.

    ``facts`` (what the risk job computed for this zone and period) supplies the time patterns and machine
    signals; without it they are computed from the database.
    """
    block = WhenBlock(timezone=tz)
    tp: TimePatterns | None
    if facts is not None:
        tp = facts.time_patterns
    else:
        try:
            tp = time_patterns(session, zone_id, start, end, shifts, tz)
        except ValueError:  # empty or over-long period: no time pattern to show
            tp = None
    if tp is not None:
        matrices = [tp.weekday_hour[k] for k in ("alert", "incident") if k in tp.weekday_hour]
        total = [[sum(m[d][h] for m in matrices) for h in range(24)] for d in range(7)]
        block.pattern_lines = pattern_lines(tp)
        block.shift_rows = _shift_rows(tp)
        block.weekday_hour = total if sum(map(sum, total)) >= MIN_EVENTS else None
        for kind in KINDS:
            for b in tp.get(kind, "shift").buckets:
                block.shift_counts[b.label] = block.shift_counts.get(b.label, 0) + b.count
    if facts is not None:
        block.machine_signals = list(facts.machine_signals)
    else:
        block.machine_signals = [s.description for s in overheating_summary(session, zone_id, start, end).signals]
    if ra is not None:
        ctx = ra.context or AssessmentContext()
        sections = _cited_sections(session, ra)
        block.actions = [split_citations(str(a), sections) for a in actions]
        cited = [c for a in block.actions for c in a.citations]
        for ref in ctx.manual_refs:
            cited.append(sections.get(ref, _pair(ref)))
        cited += sorted(sections.values())
        block.manual_sections = list(dict.fromkeys(cited))
        block.procedure_gaps = list(ctx.procedure_gaps)
        block.gap_nearest = {g: _pair(ref) for g, ref in ctx.gap_nearest.items() if g in ctx.procedure_gaps}
        if not block.machine_signals:
            block.machine_signals = list(ctx.machine_signals)
    return block
