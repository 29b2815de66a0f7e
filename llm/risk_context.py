"""Computed context of a zone for its assessment: manual sections per hazard, procedure gaps, time patterns, machine heat.

Each hazard of the zone (top incident classes, alert rules that fired, ``machine`` for an asset that keeps
overheating) is looked up in the site's manuals (``manuals.retrieval``); a hazard no section is matched to is a
*procedure gap*. The fact sheet (``llm.facts``) states the gaps, time patterns and machine signals as facts a claim
may cite, and a chosen control cites the section of its hazard by its title (``llm.controls``).
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floorwatch.config import ShiftConfig
from floorwatch.manuals.retrieval import (
    ManualIndex,
    nearest_sections,
    procedure_gaps,
    sections_for_hazards,
)
from floorwatch.schemas.evidence import ZoneEvidence
from floorwatch.schemas.manuals import ZoneContext
from floorwatch.schemas.tables import ManualSection
from floorwatch.schemas.time_patterns import TimePatterns
from floorwatch.signals.time_patterns import MIN_EVENTS, overheating_summary, time_patterns

MAX_HAZARDS = 4


def load_manual_index(session: Session, threads: int = 1) -> ManualIndex | None:
    """The manual index, or None when no manual is stored (then the prompt gets no manual block)."""
    if not session.scalar(select(func.count()).select_from(ManualSection)):
        return None
    return ManualIndex.load(session, "auto", threads=threads)


def zone_hazards(ev: ZoneEvidence, top_hazards: Sequence[str], machine_signal: bool) -> list[str]:
    """Hazards to look up: top incident classes, then alert rules by count, then ``machine``; at most 4."""
    rules = sorted(ev.alerts_by_rule, key=lambda r: (-ev.alerts_by_rule[r], r))
    out = list(dict.fromkeys([*top_hazards, *rules, *(["machine"] if machine_signal else [])]))
    return [h for h in out if h != "other"][:MAX_HAZARDS]


def zone_context(
    session: Session,
    index: ManualIndex | None,
    ev: ZoneEvidence,
    top_hazards: Sequence[str],
    shifts: Sequence[ShiftConfig],
    tz: str | ZoneInfo = "UTC",
    k: int = 1,
) -> ZoneContext:
    """Manual sections, gaps, time-pattern summary and machine-heat signals of one zone and period."""
    heat = overheating_summary(session, ev.zone_id, ev.start, ev.end)
    patterns: TimePatterns | None
    try:
        patterns = time_patterns(session, ev.zone_id, ev.start, ev.end, shifts, tz)
    except ValueError:  # empty or over-long window: no time pattern to report
        patterns = None
    significant = [
        s for s in patterns.series if s.total >= MIN_EVENTS and s.not_uniform() and s.peak is not None
    ] if patterns else []  # the report's rule: fewer events than MIN_EVENTS say nothing about when
    time_lines = [
        f"{s.kind}s cluster by {s.dimension}: {peak.label} has {peak.count} of {s.total} (p={s.p_value:.2g})"
        for s in significant
        if (peak := s.peak) is not None
    ]
    hits = {}
    if index is not None:
        hits = sections_for_hazards(index, zone_hazards(ev, top_hazards, bool(heat.signals)), k=k)
    gaps = procedure_gaps(hits)
    return ZoneContext(
        hits_by_hazard=hits,
        gaps=gaps,
        gap_nearest=nearest_sections(index, gaps) if index is not None else {},
        time_lines=time_lines,
        signals=[s.description for s in heat.signals],
        patterns=significant,
        time_patterns=patterns,
        timezone=tz if isinstance(tz, str) else tz.key,
    )
