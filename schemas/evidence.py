"""Read models of the evidence stored for a zone: what the queries return to the report, the LLM and the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from floorwatch.schemas.time_patterns import TimePatterns


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AlertSummary(_Frozen):
    id: str = Field(description="alert_id")
    rule: str
    severity: str
    zone_id: str
    camera_id: str
    track_id: int | None = None
    status: str = Field(description="open | closed")
    started_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None = None
    people: int | None = None
    source: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    snapshot_path: str | None = None
    clip_path: str | None = None
    review: str = Field("none", description="none | acknowledged | dismissed")
    review_reason: str | None = None
    reviewed_at: datetime | None = None
    updates: int = 0

    @property
    def duration_seconds(self) -> float:
        """Seconds from start to end (or to the last update while still open)."""
        return ((self.ended_at or self.last_seen_at) - self.started_at).total_seconds()


class IncidentSummary(_Frozen):
    id: int
    source: str
    source_id: str
    occurred_at: datetime | None = None
    time_of_day_known: bool = Field(
        True, description="False: occurred_at is a date alone (00:00 site time), no time of day was given"
    )
    zone_id: str | None = None
    title: str = ""
    redacted_text: str = Field(description="Report text with personal data removed (never the original)")
    # Fields of the latest successful extraction, when there is one.
    extraction_model: str | None = None
    prompt_version: str | None = None
    hazard_category: str | None = None
    severity: int | None = None
    potential_severity: int | None = None
    potential_severity_calibrated: float | None = None
    potential_severity_expected: float | None = None
    hazard_other_opinions: list[str] = Field(
        default_factory=list,
        description="Classes the token-probability judge, the MiniLM second opinion or the mechanism (MiniLM on the "
        "answer's equipment and causes) gave when they differ from the stored hazard_category (llm.judge; empty when "
        "they agree or were not run)",
    )
    read_chars: int | None = Field(
        None, description="Characters of redacted_text the model was shown when the report was longer than the "
        "extraction's cap (llm.prompts.report_block); None when it read all of it"
    )
    stated_death: bool = Field(
        False, description="The report states a death: the judge's P(Yes) to 'Did someone die?' >= 0.8 (llm.judge; "
        "never the JSON's severity 5 alone); a zone with one is critical (llm.risk.level_for)"
    )
    prompt_markup: bool = Field(
        False, description="The report holds prompt delimiters, chat-template tokens or words addressed to the model (llm.prompts.has_prompt_markup): "
        "defused, but its reading may have been steered; shown as one to check by hand"
    )
    injury: bool | None = None
    body_part: str | None = None
    equipment: str | None = None
    causes: list[Any] = Field(default_factory=list)
    controls: list[Any] = Field(default_factory=list)

    @property
    def extracted(self) -> bool:
        return self.extraction_model is not None


class AnomalySummary(_Frozen):
    id: str
    zone_id: str
    asset: str
    started_at: datetime
    ended_at: datetime
    score: float
    channels: list[Any] = Field(default_factory=list)
    category: str = "other"
    method: str = ""


class OutageSummary(_Frozen):
    id: str
    camera_id: str
    started_at: datetime
    ended_at: datetime | None = Field(None, description="None while the camera is still blind")
    reason: str = ""


class ZoneEvidence(_Frozen):
    """Everything stored about one zone that overlaps ``[start, end]``."""

    zone_id: str
    start: datetime
    end: datetime
    alerts: list[AlertSummary] = Field(default_factory=list)
    incidents: list[IncidentSummary] = Field(default_factory=list)
    anomalies: list[AnomalySummary] = Field(default_factory=list)
    outages: list[OutageSummary] = Field(default_factory=list)
    alerts_by_rule: dict[str, int] = Field(default_factory=dict)
    alerts_by_severity: dict[str, int] = Field(default_factory=dict)
    dismissed_share: float | None = Field(
        None, description="Dismissed alerts / all alerts; None without alerts"
    )

    @property
    def is_empty(self) -> bool:
        return not (self.alerts or self.incidents or self.anomalies or self.outages)


class ZoneFacts(_Frozen):
    """What the risk job computed about one zone and period, so the report renders it instead of recomputing."""

    zone_id: str
    evidence: ZoneEvidence
    time_patterns: TimePatterns | None = Field(
        None, description="Alerts and incidents by hour, weekday and shift; None for an empty or over-long period"
    )
    machine_signals: list[str] = Field(default_factory=list, description="Assets that keep overheating")


class DismissalRate(_Frozen):
    """How often operators dismissed a rule's alerts in a zone (false-alarm signal)."""

    zone_id: str
    rule: str
    total: int
    acknowledged: int
    dismissed: int

    @property
    def rate(self) -> float:
        """Dismissed / all alerts."""
        return self.dismissed / self.total if self.total else 0.0


class UnreadReport(_Frozen):
    """An incident report in a zone and period that the LLM could not read: every extraction of it failed.

    Its zone's score counts it at the neutral severity 3 (``llm.risk``) and it is in no hazard count.
    """

    id: int
    source: str
    title: str = ""
    zone_id: str | None = None
    error: str = Field("", description="The newest failure's reason (model error, invalid JSON, server unreachable)")


class UnplacedReport(_Frozen):
    """An incident report that no zone's assessment can include: it has no date, no zone, or neither."""

    id: int
    source: str
    title: str = ""
    occurred_at: datetime | None = None
    zone_id: str | None = None

    @property
    def missing(self) -> str:
        """What is missing, in words: "date", "zone" or "date and zone"."""
        return " and ".join(w for w, v in (("date", self.occurred_at), ("zone", self.zone_id)) if v is None)
