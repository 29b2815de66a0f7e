"""Typed input/output of the LLM path: the hazard taxonomy, what the model must return, and the risk report.

Hazard taxonomy (``HazardCategory``) - every extraction is put in exactly one class:

==================== ============================================================================
class                meaning
==================== ============================================================================
struck_by            hit by a moving, falling, flying or swinging object (tools, loads, rock, parts)
caught_in_machinery  pinched, pressed, crushed or entangled between parts or in machinery
fall_from_height     fall from a ladder, platform, vehicle, scaffold or into an opening
slip_trip            slip, trip or fall on the same level
electrical           electric shock, arc flash, contact with live parts
chemical_exposure    contact with or inhalation of chemicals, acids, dust, gas, fumes
burn_hot_surface     burns from hot surfaces, molten metal, steam, hot liquids
fire_explosion       fire, explosion, flammable or combustible material near ignition sources
cut_laceration       cut or puncture by a sharp edge, blade, glass, wire
manual_handling      strain or sprain from lifting, pushing, pulling, awkward posture
vehicle              vehicle, forklift or mobile equipment collision, run-over or rollover
pressure_release     sudden release of pressurised fluid, hose or pipe burst, projection
animal_insect        bite or sting by an animal, insect, spider or snake (BLS OIICS event group "animal and
                     insect related incidents"; added in extract-v9)
other                anything else (medical events, unclear reports)
==================== ============================================================================

Severity scales (1-5) used by ``severity`` (what happened) and ``potential_severity`` (what could
realistically have happened): 1 = no injury / first aid, 2 = minor injury / medical treatment,
3 = lost-time injury, 4 = serious or permanent injury, 5 = fatality or multiple serious injuries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from floorwatch.schemas.evidence import ZoneFacts
from floorwatch.schemas.facts import NarrativeAudit
from floorwatch.schemas.time_patterns import PatternSeries

HazardCategory = Literal[
    "struck_by",
    "caught_in_machinery",
    "fall_from_height",
    "slip_trip",
    "electrical",
    "chemical_exposure",
    "burn_hot_surface",
    "fire_explosion",
    "cut_laceration",
    "manual_handling",
    "vehicle",
    "pressure_release",
    "animal_insect",
    "other",
]
HAZARD_CATEGORIES: tuple[str, ...] = HazardCategory.__args__  # type: ignore[attr-defined]
RiskLevel = Literal["low", "medium", "high", "critical"]
RISK_LEVELS: tuple[str, ...] = RiskLevel.__args__  # type: ignore[attr-defined]  # lowest first
LEVEL_RANK: dict[str, int] = {level: i for i, level in enumerate(RISK_LEVELS, start=1)}  # low 1 .. critical 4


def zone_order_key(level: str | None, score: float | None, zone_id: str) -> tuple[int, float, str]:
    """The order zones are listed in (report.md / report.html, report.json, the console): level first, critical
    first (a zone made critical by a stated death outranks a higher score), then score, then id; a zone without a
    level and score (no evidence: not scored) last."""
    return (-LEVEL_RANK.get(level or "", 0), -(score if score is not None else -1.0), zone_id)
Trend = Literal["rising", "falling", "stable", "new"]
EvidenceKind = Literal["alert", "incident", "anomaly", "outage"]

M = TypeVar("M", bound=BaseModel)


class _Out(BaseModel):
    """Models the LLM must fill: strict, so an extra or misspelt key is a validation error."""

    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- what the model returns
def _written_always(schema: dict[str, Any]) -> None:
    """JSON-schema hook: the model writes body_part, equipment and causes every time (null / [] when unknown).

    They keep their Python defaults (rows of older prompt versions), but as required keys in the schema the
    grammar fixes their names and order, so the local decoder feeds the names instead of generating them
    (``floorwatch.llm.json_forcing``): ~0.1 s per report on 2 cores.
    """
    schema["required"] = [*schema.get("required", []), "body_part", "equipment", "causes"]


class IncidentExtraction(_Out):
    """Structured facts of one incident report (map step). Kept compact: every token costs CPU time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_written_always)

    hazard_category: HazardCategory
    severity: int = Field(ge=1, le=5, description="Actual outcome, 1 (no injury) to 5 (fatal)")
    potential_severity: int = Field(ge=1, le=5, description="Worst realistic outcome, 1 to 5")
    injury: bool
    body_part: str | None = Field(None, max_length=120, description="Injured body part, if any")
    equipment: str | None = Field(None, max_length=120, description="Equipment or tool involved, if any")
    causes: list[str] = Field(default_factory=list, max_length=3, description="Up to 3 short causes")
    controls: list[str] = Field(
        default_factory=list, max_length=3, description="Up to 3 short preventive controls (no longer asked for: rows before extract-v7)"
    )
    zone: str | None = Field(None, max_length=120, description="Area named in the report, if any")


# --------------------------------------------------------------------------- backend I/O
class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)
    role: Literal["system", "user", "assistant"]
    content: str


class LLMRequest(BaseModel):
    """One prompt; ``id`` travels to the result so a batch can be matched back to its rows."""

    model_config = ConfigDict(frozen=True)
    id: str
    messages: list[ChatMessage]
    max_tokens: int | None = Field(None, ge=1, le=8192, description="None = the backend's configured default")
    probes: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Top-level key -> candidate answers whose probabilities are wanted where that key's value starts "
        "(backends that expose token probabilities fill LLMResult.probes; others leave it empty)",
    )


class LLMResult(BaseModel, Generic[M]):
    """Outcome of one request: the validated model, or an error naming why there is none."""

    id: str
    parsed: M | None = None
    error: str | None = None
    raw: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cached: bool = False
    probes: dict[str, list[float]] = Field(
        default_factory=dict,
        description="Per probed key: probability of each candidate of LLMRequest.probes (same order, sums to 1)",
    )

    @property
    def ok(self) -> bool:
        return self.parsed is not None


# --------------------------------------------------------------------------- the risk report
class Period(BaseModel):
    start: datetime
    end: datetime


class EvidenceRef(BaseModel):
    model_config = ConfigDict(frozen=True)
    kind: EvidenceKind
    id: str

    @property
    def key(self) -> str:
        """``'<kind>:<id>'``: the form the LLM sees and cites."""
        return f"{self.kind}:{self.id}"


class HazardCount(BaseModel):
    category: str
    count: int
    weight: float = Field(description="Sum of the points (llm.risk.points: 2 ** (potential severity - 1)) of the incidents in this class")


DEATH_PROBABILITY = 0.8  # P(Yes) to "Did someone die?" from which a report counts as stating a death (llm.judge)


class ScoreBreakdown(BaseModel):
    """Terms of the risk score (see :mod:`floorwatch.llm.risk`): points per kind, severity index, frequency."""

    incidents: float = 0.0
    alerts: float = 0.0
    anomalies: float = 0.0
    outages: float = 0.0
    raw: float = Field(0.0, description="Sum of the points of the scored items (incidents, alerts, anomalies)")
    items: int = Field(0, description="Scored items (outages are not scored)")
    mean_points: float = Field(0.0, description="(raw + prior_items * prior_points) / (items + prior_items): log2 of it / 4 is the score")
    weeks: float = Field(1.0, description="Period length in weeks, at least 1")
    rate: float = Field(0.0, description="Evidence items (outages included) per week: frequency, reported beside the score")
    prior_points: float = Field(4.0, description="Mean points the index shrinks toward (the site's mean, or severity 3)")
    prior_items: float = Field(3.0, description="Strength of that prior in pseudo-items")
    confidence: float | None = Field(
        None, ge=0, le=1, description="items / (items + prior_items): share of the score from the zone's own evidence; "
        "None in assessments stored before the site prior existed"
    )
    deaths: list[int] = Field(
        default_factory=list, description="Ids of the period's incidents that state a death (IncidentSummary.stated_death): one "
        "makes the level critical whatever the score (llm.risk.level_for)"
    )


class ExtractionOutcome(BaseModel):
    """One incident after the map step (``status`` failed carries the reason in ``error``)."""

    incident_id: int
    source_id: str
    zone_id: str | None = None
    status: Literal["ok", "failed"]
    error: str | None = None
    extraction: IncidentExtraction | None = None
    prompt_markup: bool = Field(
        False, description="The report holds prompt delimiters, chat-template tokens or words addressed to the model (llm.prompts.has_prompt_markup): "
        "defused, but the reading may be steered; check it by hand"
    )
    potential_severity_calibrated: float | None = Field(
        None, description="potential_severity corrected by the site's severity calibrator; None without one"
    )
    severity_expected: float | None = Field(
        None, ge=1, le=5, description="Probability-weighted actual severity (llm.severity.expected_severity); None without probabilities"
    )
    potential_severity_expected: float | None = Field(
        None, ge=1, le=5, description="Probability-weighted potential severity; None without probabilities"
    )
    cached: bool = False
    seconds: float = 0.0


class ZoneRisk(BaseModel):
    zone_id: str
    period: Period
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    score: float = Field(ge=0, le=100)
    level: RiskLevel
    trend: Trend
    previous_score: float | None = None
    breakdown: ScoreBreakdown
    top_hazards: list[HazardCount] = Field(default_factory=list)
    summary: str = ""
    actions: list[str] = Field(default_factory=list)
    evidence: list[EvidenceRef] = Field(default_factory=list, description="All evidence in the window")
    cited: list[EvidenceRef] = Field(default_factory=list, description="Evidence the narrative cites")
    dropped_evidence: int = Field(0, description="Ids the LLM cited that are not in the zone's evidence")
    manual_refs: list[str] = Field(default_factory=list, description="Manual sections ('document#heading') the actions cite")
    dropped_manual_refs: int = Field(0, description="Always 0 since actions are chosen from the controls library with their manual section (kept for stored rows)")
    procedure_gaps: list[str] = Field(default_factory=list, description="Zone hazards no manual section covers")
    gap_nearest: dict[str, str] = Field(default_factory=dict, description="Per procedure gap, the manual section ('document#heading') nearest to the hazard above the similarity floor, matched to another topic: a reader checks whether it covers the hazard (absent when none comes near)")
    context_notes: list[str] = Field(default_factory=list, description="Time patterns and machine signals shown to the LLM")
    time_patterns: list[PatternSeries] = Field(
        default_factory=list, description="Time-pattern series that reject uniform (p < 0.05)"
    )
    machine_signals: list[str] = Field(default_factory=list, description="Assets that keep overheating")
    narrative: NarrativeAudit | None = Field(None, description="Claims made, verified and dropped (grounded reduce step)")
    model: str = ""
    prompt_version: str = ""


class RiskReport(BaseModel):
    """The typed result of one risk job; the JSON output and the HTML/Markdown reports render it."""

    period: Period
    backend: str
    model: str
    generated_at: datetime
    zones: list[ZoneRisk] = Field(default_factory=list)
    incidents: list[ExtractionOutcome] = Field(default_factory=list)
    facts: dict[str, ZoneFacts] = Field(
        default_factory=dict, description="Per zone, the evidence and time patterns the assessment used (for the report)"
    )
    seconds: float = 0.0

    def ranked_zones(self) -> list[ZoneRisk]:
        """``zones`` in the order of the Markdown/HTML report (``review.report_data.ZoneCard.sort_key``): level first,
        critical first (a zone made critical by a stated death outranks a higher score), then score, then id; the
        zones without evidence (not scored: no evidence is not a low risk) last, by id."""
        return sorted(self.zones, key=lambda z: zone_order_key(z.level, z.score, z.zone_id) if z.evidence
                      else zone_order_key(None, None, z.zone_id))

    def public_json(self) -> dict[str, Any]:
        """The stable ``floorwatch report --json`` document. Zones are listed as the Markdown/HTML report lists them
        (``ranked_zones``); ``rank`` is a zone's place in that order (1 = highest risk), ``null`` for a zone without
        evidence, which is not scored."""
        ranked = self.ranked_zones()
        return {
            "period": {"start": self.period.start.isoformat(), "end": self.period.end.isoformat()},
            "zones": [
                {
                    "zone_id": z.zone_id,
                    "rank": rank if z.evidence else None,
                    "risk_level": z.level if z.evidence else None,  # no evidence is not a low risk
                    "score": z.score if z.evidence else None,
                    "top_hazards": [h.category for h in z.top_hazards],
                    "summary": z.summary,
                    "fatal_incidents": z.breakdown.deaths,
                    "evidence": [{"kind": e.kind, "id": e.id} for e in z.cited or z.evidence],
                }
                for rank, z in enumerate(ranked, start=1)
            ],
            "incidents": [
                {
                    "id": i.incident_id,
                    "source_id": i.source_id,
                    "hazard_category": i.extraction.hazard_category if i.extraction else None,
                    "severity": i.extraction.severity if i.extraction else None,
                    "potential_severity": i.extraction.potential_severity if i.extraction else None,
                    "potential_severity_calibrated": i.potential_severity_calibrated,
                    "potential_severity_expected": i.potential_severity_expected,
                    "status": i.status,
                    "check_by_hand": i.prompt_markup,
                }
                for i in self.incidents
            ],
        }
