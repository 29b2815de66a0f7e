"""Extra, computed context for the reduce step: manual sections per hazard, procedure gaps, time patterns, machine heat.

The reduce prompt gets a ``<manuals>`` block only when manuals are stored, so a site without
manuals sends the same prompt as before. Each hazard of the zone (top incident classes, alert rules
that fired, ``machine`` for an asset that keeps overheating) is looked up in the manuals; a hazard
with no section above the similarity floor is a *procedure gap*. The model may end an action with
``[manual:document#heading]``; citations of sections it was not shown are removed and counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floorwatch.config import ShiftConfig
from floorwatch.manuals.retrieval import (
    ManualIndex,
    manual_context_lines,
    nearest_sections,
    procedure_gaps,
    sections_for_hazards,
)
from floorwatch.schemas.evidence import ZoneEvidence
from floorwatch.schemas.manuals import ZoneContext
from floorwatch.schemas.tables import ManualSection
from floorwatch.schemas.time_patterns import TimePatterns
from floorwatch.signals.time_patterns import MIN_EVENTS, overheating_summary, time_patterns

MANUAL_REF = re.compile(r"\s*\[manual:([^\]\n]+)\]")
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


def context_lines(ctx: ZoneContext, excerpt_chars: int = 160) -> list[str]:
    """Lines of the ``<manuals>`` block (empty when no manuals are stored and nothing stands out)."""
    lines = manual_context_lines(ctx.hits_by_hazard, excerpt_chars) if ctx.hits_by_hazard else []
    lines += [f"[pattern] {line}" for line in ctx.time_lines]
    lines += [f"[machine] {s}" for s in ctx.signals]
    return lines


def check_action_citations(actions: Sequence[str], ctx: ZoneContext) -> tuple[list[str], list[str], int]:
    """Strip ``[manual:...]`` citations of sections not shown to the model from the actions.

    Returns:
        (actions with only known citations left, known citations in order without repeats, dropped count).
    """
    known = {hit.citation for hits in ctx.hits_by_hazard.values() for hit in hits}
    kept_refs: list[str] = []
    dropped = 0
    cleaned = []
    for action in actions:

        def _keep(m: re.Match[str]) -> str:
            nonlocal dropped
            ref = m.group(1).strip()
            if ref in known:
                if ref not in kept_refs:
                    kept_refs.append(ref)
                return f" [manual:{ref}]"
            dropped += 1
            return ""

        cleaned.append(MANUAL_REF.sub(_keep, action).strip())
    return cleaned, kept_refs, dropped
