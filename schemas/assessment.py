"""Typed JSON documents of a stored risk assessment (``risk_assessments`` JSON columns)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from floorwatch.schemas.facts import NarrativeAudit
from floorwatch.schemas.time_patterns import PatternSeries


class AssessmentContext(BaseModel):
    """``risk_assessments.context``: the computed context a zone's narrative was written from.

    Written by ``floorwatch.llm.risk.context_json``; keys added later are kept as extra fields.
    """

    model_config = ConfigDict(extra="allow")

    procedure_gaps: list[str] = Field(default_factory=list, description="Zone hazards no manual section covers")
    gap_nearest: dict[str, str] = Field(default_factory=dict, description="Per procedure gap, the manual section ('document#heading') nearest to the hazard above the similarity floor, matched to another topic: a reader checks whether it covers the hazard (absent when none comes near)")
    manual_refs: list[str] = Field(default_factory=list, description="Cited manual sections, 'document#heading'")
    dropped_manual_refs: int = Field(0, ge=0, description="Always 0 since actions are chosen from the controls library with their manual section (kept for stored rows)")
    time_notes: list[str] = Field(default_factory=list, description="Time-pattern lines shown to the LLM")
    time_patterns: list[PatternSeries] = Field(default_factory=list, description="Significant series (p < 0.05)")
    machine_signals: list[str] = Field(default_factory=list, description="Assets that keep overheating")
    narrative: NarrativeAudit | None = Field(
        None, description="Claims made, verified and dropped (with reasons) by the grounded reduce step"
    )
