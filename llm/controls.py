"""Actions are chosen from the controls library (``llm/controls.yaml``), never written by the model.

For a zone, the candidates are the library entries of its hazards (top incident classes, alert
rules, ``machine``), in hazard order and then by the hierarchy of controls. Each candidate cites, of
the manual sections retrieved for its hazard (``risk_context.zone_context`` ->
``retrieval.sections_for_hazards``: sections the hazard and the section both pick as their match),
the one sharing most words with it, when there is one. The model returns candidate ids in the order
it wants them; unknown ids are ignored; a hazard it picked nothing for gets its first control
(highest rung first), so every hazard of the zone has an action (:func:`choose`). A hazard without
a manual section is a procedure gap: it is shown as a gap, never turned into an action.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from floorwatch.manuals.retrieval import keywords
from floorwatch.schemas.facts import HIERARCHY, ChosenAction, ControlEntry
from floorwatch.schemas.manuals import SectionHit, ZoneContext

LIBRARY_PATH = Path(__file__).with_name("controls.yaml")
MAX_ACTIONS = 4
CANDIDATES_PER_HAZARD = 3


@lru_cache(maxsize=4)
def load_library(path: Path = LIBRARY_PATH) -> tuple[ControlEntry, ...]:
    """All library entries (validated; duplicate ids are an error naming the file)."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        entries = tuple(ControlEntry.model_validate(e) for e in doc["controls"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a valid controls library: {exc}") from exc
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: duplicate control ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return entries


def candidates(hazards: list[str], ctx: ZoneContext | None, library: tuple[ControlEntry, ...] | None = None) -> list[ChosenAction]:
    """Library controls for the zone's hazards (hazard order, then hierarchy rung), each with its manual section."""
    lib = library if library is not None else load_library()
    out: list[ChosenAction] = []
    for hazard in dict.fromkeys(hazards):
        hits = (ctx.hits_by_hazard.get(hazard) if ctx is not None else None) or []
        entries = sorted((e for e in lib if e.hazard == hazard), key=lambda e: HIERARCHY.index(e.level))
        out += [
            ChosenAction(control_id=e.id, level=e.level, text=e.text, source=e.source, manual=_section_for(e, hits))
            for e in entries[:CANDIDATES_PER_HAZARD]
        ]
    return out


def _section_for(entry: ControlEntry, hits: list[SectionHit]) -> str | None:
    """The hazard's manual section that says most about this control: of the sections retrieved for the
    hazard, the one sharing most content words with the control's text (retrieval order breaks ties), so a
    lockout control cites the lockout procedure rather than the guarding section found first. None when no
    section shares a content word with the control: a citation says the procedure holds the action (a trial's
    hot-work-permit control cited a molten-metal PPE section that says nothing of permits)."""
    words = keywords(entry.text)
    shared = [len(words & keywords(f"{hit.heading} {hit.text}")) for hit in hits]
    if not shared or max(shared) == 0:
        return None
    return hits[max(range(len(hits)), key=lambda i: (shared[i], -i))].citation


def choose(picked: list[str], offered: list[ChosenAction]) -> tuple[list[ChosenAction], int]:
    """The model's picks among the offered controls, at most 4, and the count of unknown ids.

    Order: the model's first pick of each hazard (in its order), then, for each of the zone's hazards
    the model picked nothing for, that hazard's first offered control (highest rung), then the
    model's further picks. So every hazard of the zone (``zone_hazards``: at most 4, as many as
    actions) gets an action: on the demo the model picked three manual-handling controls and left
    the dock's 16 restricted-zone intrusions without one. With no known pick this is the first
    offered control of each hazard.
    """
    by_id = {c.control_id: c for c in offered}
    chosen: list[ChosenAction] = []
    unknown = 0
    for raw in picked:
        c = by_id.get(raw.strip().strip("[]").removeprefix("control:").strip())
        if c is None:
            unknown += 1
        elif c not in chosen:
            chosen.append(c)
    first: dict[str, ChosenAction] = {}
    for c in chosen:
        first.setdefault(_hazard_of(c), c)
    missing: dict[str, ChosenAction] = {}
    for c in offered:
        if _hazard_of(c) not in first:
            missing.setdefault(_hazard_of(c), c)
    rest = [c for c in chosen if c not in first.values()]
    return [*first.values(), *missing.values(), *rest][:MAX_ACTIONS], unknown


def _hazard_of(action: ChosenAction) -> str:
    return action.control_id.partition(".")[0]
