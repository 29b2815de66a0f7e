"""Typed vocabulary of grounded zone narratives: the fact sheet, the model's claims and their audit.

A zone's *fact sheet* is built from the database only (``floorwatch.llm.facts``): counts by kind,
the computed score, level and breakdown, hazards with counts, the top evidence items with their ids
and a one-line fact, anomalies, outages, time patterns and procedure gaps. Every fact has an id that
is unique within the zone (evidence facts use the evidence key, e.g. ``incident:12``).

The model answers with :class:`ZoneClaims`: a few short claims, each citing the fact ids it rests on,
and the ids of the controls it picks. ``floorwatch.llm.verify`` checks every claim against the facts
it cites; :class:`NarrativeAudit` records what was made, verified and dropped (with the reason).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FactKind = Literal["count", "score", "hazard", "evidence", "anomaly", "outage", "pattern", "gap", "signal"]
ControlLevel = Literal["eliminate", "substitute", "engineering", "administrative", "ppe"]
HIERARCHY: tuple[ControlLevel, ...] = ("eliminate", "substitute", "engineering", "administrative", "ppe")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fact(_Frozen):
    """One statement the database supports, in words a claim can be checked against."""

    id: str = Field(min_length=1, description="Unique within the zone: 'count:alerts', 'score', 'incident:12', ...")
    kind: FactKind
    text: str = Field(min_length=1, description="One line; every number and event word a claim may use")


class FactSheet(_Frozen):
    """Everything a narrative about one zone and period may say."""

    zone_id: str
    period: str = Field(description="'YYYY-MM-DD to YYYY-MM-DD'")
    facts: list[Fact] = Field(default_factory=list)

    def get(self, fact_id: str) -> Fact | None:
        """The fact with this id, or None.

        Tolerated: brackets and spaces around it, a space instead of the colon (``incident 12``), and the
        part after the colon alone when exactly one fact of THIS sheet has it (``fall_from_height`` for
        ``hazard:fall_from_height``; small models drop the prefix). An id of another zone is never found.
        """
        key = fact_id.strip().strip("[]").strip()
        exact = next((f for f in self.facts if f.id == key), None)
        if exact is not None or not key:
            return exact
        key = key.replace(" ", ":", 1) if ":" not in key else key
        exact = next((f for f in self.facts if f.id == key), None)
        if exact is not None:
            return exact
        tail = [f for f in self.facts if f.id.partition(":")[2] == key]
        return tail[0] if len(tail) == 1 else None


CLAIM_CHARS = 300  # the longest claim a summary shows (about two lines of the report)


class Claim(BaseModel):
    """One sentence of the model's narrative and the fact ids it rests on."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(
        max_length=4000,
        description=f"One short sentence about the zone; over {CLAIM_CHARS} characters it fails the fact check "
        "(llm.verify), not the parse, so the other claims of the answer still count",
    )
    facts: list[str] = Field(max_length=4, description="Ids of the facts the sentence rests on, e.g. 'count:alerts'")


class ZoneClaims(BaseModel):
    """What the model returns in the grounded reduce step (schema-first, every backend)."""

    model_config = ConfigDict(extra="forbid")
    claims: list[Claim] = Field(max_length=4, description="2-4 claims, most important first")
    controls: list[str] = Field(max_length=4, description="Ids of the chosen controls, most urgent first")


class ClaimCheck(_Frozen):
    """The verifier's verdict on one claim."""

    text: str
    facts: list[str] = Field(default_factory=list)
    verified: bool
    reason: str | None = Field(None, description="Why the claim failed; None when verified")
    attempt: int = Field(1, ge=1, le=2, description="1 = first answer, 2 = after the one repair turn")


class NarrativeAudit(_Frozen):
    """Per assessment: claims made, verified and dropped (with reasons), and whether the template was used."""

    made: int = 0
    verified: int = 0
    dropped: int = 0
    checks: list[ClaimCheck] = Field(default_factory=list, description="Final verdict of every claim made")
    template: bool = Field(False, description="True when no claim survived and the summary is the fact-sheet template")
    error: str | None = Field(None, description="Model failure (invalid JSON, timeout), recorded; the template is used")


class ControlEntry(_Frozen):
    """One entry of the controls library (``llm/controls.yaml``)."""

    id: str = Field(description="'<hazard>.<short-name>'")
    hazard: str = Field(description="Hazard class or alert rule it controls")
    level: ControlLevel = Field(description="Rung of the hierarchy of controls")
    text: str = Field(min_length=10, description="The action as one full sentence")
    source: str = Field(min_length=3, description="Named guidance the entry follows")


class ChosenAction(_Frozen):
    """An action of the report: a library control, with the manual section it matches when there is one."""

    control_id: str
    level: ControlLevel
    text: str
    source: str
    manual: str | None = Field(None, description="'document#heading' of the matching site manual section")

    def sentence(self) -> str:
        """The stored action line: sentence, library citation, and a ``[manual:...]`` marker the report resolves."""
        line = f"{self.text} (control {self.control_id}, {self.level}; {self.source})"
        return f"{line} [manual:{self.manual}]" if self.manual else line
