"""Shared database tables (SQLAlchemy 2.0 typed models). Alembic migrations are the only way they change.

Every row that arrives from outside carries a natural key (``alert_id``, ``outage_id``,
``(source, source_id)``, ...) so re-ingesting or redelivery is a no-op.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from floorwatch.schemas.assessment import AssessmentContext
from floorwatch.schemas.llm import HazardCount, ScoreBreakdown


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC; refuses naive input so no local time sneaks in."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class PydanticJSON(TypeDecorator[Any]):
    """A JSON column read back as the typed value ``adapter`` describes (a pydantic model or a list of them).

    Writes accept the typed value or plain JSON data (validated by ``adapter`` first), so a row never holds a
    document its readers cannot parse.
    """

    impl = JSON
    cache_ok = True

    def __init__(self, adapter: TypeAdapter[Any]) -> None:
        super().__init__()
        self.adapter = adapter

    def coerce(self, value: Any) -> Any:
        """``value`` as the typed value (``None`` stays ``None``); raises pydantic ``ValidationError``."""
        return None if value is None else self.adapter.validate_python(value)

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else self.adapter.dump_python(self.coerce(value), mode="json")

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return self.coerce(value)


_BREAKDOWN = PydanticJSON(TypeAdapter(ScoreBreakdown))
_HAZARDS = PydanticJSON(TypeAdapter(list[HazardCount]))
_ACTIONS = PydanticJSON(TypeAdapter(list[str]))
_CONTEXT = PydanticJSON(TypeAdapter(AssessmentContext))


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Zone(Base):
    __tablename__ = "zones"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Camera(Base):
    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(Text, default="", doc="Source with credentials stripped")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(100), primary_key=True, doc="alert_id from the vision pipeline")
    rule: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10))
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"))
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    track_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(10), default="open", doc="open | closed")
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    start_frame: Mapped[int] = mapped_column(Integer, default=0)
    end_frame: Mapped[int | None]
    video_ts: Mapped[float] = mapped_column(Float, default=0.0)
    source: Mapped[str] = mapped_column(Text, default="")
    people: Mapped[int | None]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    snapshot_path: Mapped[str | None] = mapped_column(Text)
    clip_path: Mapped[str | None] = mapped_column(Text)
    review: Mapped[str] = mapped_column(String(12), default="none", doc="none | acknowledged | dismissed")
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None]
    captured_at: Mapped[datetime | None]
    inferred_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    updates: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_alerts_zone_time", "zone_id", "started_at"),)


class CameraOutage(Base):
    __tablename__ = "camera_outages"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (Index("ix_outages_camera_time", "camera_id", "started_at"),)


class IncidentReport(Base):
    __tablename__ = "incident_reports"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(500), doc="File name the report came from")
    source_id: Mapped[str] = mapped_column(String(200), doc="Id in the source (CSV id column) or content hash")
    content_hash: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime | None]
    time_of_day_known: Mapped[bool] = mapped_column(
        default=True,
        server_default=true(),
        doc="False: occurred_at is a date alone, stored at 00:00 site time (counts by weekday, not by hour or shift)",
    )
    zone_id: Mapped[str | None] = mapped_column(ForeignKey("zones.id"))
    title: Mapped[str] = mapped_column(String(500), default="")
    original_text: Mapped[str] = mapped_column(Text)
    redacted_text: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict, doc="Other columns of the source row")
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
    extractions: Mapped[list[IncidentExtraction]] = relationship(back_populates="incident")
    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_incident_source"),
        Index("ix_incidents_zone_time", "zone_id", "occurred_at"),
    )


class IncidentExtraction(Base):
    __tablename__ = "incident_extractions"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_reports.id", ondelete="CASCADE"))
    prompt_version: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    input_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), doc="ok | failed")
    error: Mapped[str | None] = mapped_column(Text)
    hazard_category: Mapped[str | None] = mapped_column(String(40))
    severity: Mapped[int | None]
    potential_severity: Mapped[int | None]
    potential_severity_calibrated: Mapped[float | None] = mapped_column(
        Float, doc="potential_severity corrected by the site's severity calibrator (floorwatch.calibration.calibrator), 1-5"
    )
    severity_expected: Mapped[float | None] = mapped_column(
        Float, doc="probability-weighted actual severity, 1-5 (floorwatch.llm.severity.expected_severity)"
    )
    potential_severity_expected: Mapped[float | None] = mapped_column(
        Float, doc="probability-weighted potential severity E[max(actual, potential)], 1-5 (floorwatch.llm.severity.expected_potential)"
    )
    injury: Mapped[bool | None] = mapped_column(Boolean)
    body_part: Mapped[str | None] = mapped_column(String(200))
    equipment: Mapped[str | None] = mapped_column(String(200))
    zone_hint: Mapped[str | None] = mapped_column(String(200))
    causes: Mapped[list[Any]] = mapped_column(default=list)
    controls: Mapped[list[Any]] = mapped_column(default=list)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seconds: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    incident: Mapped[IncidentReport] = relationship(back_populates="extractions")
    __table_args__ = (UniqueConstraint("incident_id", "prompt_version", "model", name="uq_extraction"),)


class Sensor(Base):
    __tablename__ = "sensors"
    id: Mapped[str] = mapped_column(String(300), primary_key=True, doc="'<asset>:<channel>'")
    asset: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(200))
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"))
    unit: Mapped[str] = mapped_column(String(40), default="")


class SensorWindow(Base):
    """Readings aggregated per window (1 minute by default) so months of 1 Hz data stay small."""

    __tablename__ = "sensor_windows"
    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensors.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    window_seconds: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)


class SensorAnomaly(Base):
    __tablename__ = "sensor_anomalies"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"))
    asset: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]
    score: Mapped[float] = mapped_column(Float)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    category: Mapped[str] = mapped_column(String(20), default="other")
    method: Mapped[str] = mapped_column(String(200), default="")
    __table_args__ = (Index("ix_anomalies_zone_time", "zone_id", "started_at"),)


class RiskAssessment(Base):
    __tablename__ = "risk_assessments"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="ok", doc="ok | failed")
    error: Mapped[str | None] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(10))
    score: Mapped[float | None] = mapped_column(Float)
    score_breakdown: Mapped[ScoreBreakdown] = mapped_column(_BREAKDOWN, default=ScoreBreakdown)
    trend: Mapped[str | None] = mapped_column(String(12))
    top_hazards: Mapped[list[HazardCount]] = mapped_column(_HAZARDS, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    actions: Mapped[list[str]] = mapped_column(_ACTIONS, default=list)
    model: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(40))
    dropped_evidence: Mapped[int] = mapped_column(Integer, default=0, doc="Ids the LLM cited that do not exist")
    context: Mapped[AssessmentContext | None] = mapped_column(
        _CONTEXT,
        nullable=True,
        doc="Computed context (AssessmentContext): procedure_gaps, manual_refs, dropped_manual_refs, time_notes, "
        "time_patterns (significant series), machine_signals (see floorwatch.llm.risk.context_json)",
    )

    @validates("score_breakdown", "top_hazards", "actions", "context")
    def _typed_json(self, key: str, value: Any) -> Any:
        # Plain JSON data assigned in Python becomes the typed value at once, as it is when read back.
        return {"score_breakdown": _BREAKDOWN, "top_hazards": _HAZARDS, "actions": _ACTIONS, "context": _CONTEXT}[
            key
        ].coerce(value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    evidence: Mapped[list[RiskEvidence]] = relationship(back_populates="assessment", cascade="all, delete-orphan")
    __table_args__ = (
        UniqueConstraint("zone_id", "period_start", "period_end", "prompt_version", "model", name="uq_risk_period"),
    )


class RiskEvidence(Base):
    __tablename__ = "risk_evidence"
    assessment_id: Mapped[int] = mapped_column(ForeignKey("risk_assessments.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True, doc="alert | incident | anomaly | outage | manual")
    ref_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    cited: Mapped[bool] = mapped_column(Boolean, default=False, doc="True when the LLM cited it in the narrative")
    assessment: Mapped[RiskAssessment] = relationship(back_populates="evidence")


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    partition: Mapped[int] = mapped_column(Integer, default=0)
    offset: Mapped[int] = mapped_column(Integer, default=0)
    key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    __table_args__ = (UniqueConstraint("topic", "partition", "offset", name="uq_dead_letter_pos"),)


class LLMCache(Base):
    __tablename__ = "llm_cache"
    key: Mapped[str] = mapped_column(String(64), primary_key=True, doc="sha256(prompt version, model, input)")
    response: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ManualSection(Base):
    __tablename__ = "manual_sections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, doc="sha256 of (document, heading, text)[:32]")
    document: Mapped[str] = mapped_column(String(500))
    heading: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
    embedding: Mapped[list[Any] | None] = mapped_column(JSON, doc="MiniLM embedding (384 floats)")
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)


class CameraHeartbeat(Base):
    """Latest health of one camera as seen by one ``watch`` process (upserted every few seconds).

    Several processes (on several machines) may watch cameras; the health page reads all rows. A row
    whose ``updated_at`` is older than ``3 * interval_s`` belongs to a process that stopped reporting.
    """

    __tablename__ = "camera_heartbeats"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), primary_key=True, doc="host:pid:start of the process")
    host: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(16), doc="live | reconnecting | starting | stopped")
    down_since: Mapped[datetime | None] = mapped_column(doc="Start of the current outage")
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    interval_s: Mapped[float] = mapped_column(Float)
    last_frame_at: Mapped[datetime | None]
    frames_read: Mapped[int] = mapped_column(Integer, default=0)
    frames_processed: Mapped[int] = mapped_column(Integer, default=0)
    frames_dropped: Mapped[int] = mapped_column(Integer, default=0)
    fps_read: Mapped[float | None] = mapped_column(Float, doc="Over the last interval")
    fps_processed: Mapped[float | None] = mapped_column(Float, doc="Over the last interval")
    latency_p50_s: Mapped[float | None] = mapped_column(Float, doc="Frame-to-alert, last 1000 started alerts")
    latency_p95_s: Mapped[float | None] = mapped_column(Float)
    outages_24h: Mapped[int] = mapped_column(Integer, default=0)


class ConfigChange(Base):
    """Who changed the configuration file from the dashboard, what and when (with the backup kept)."""

    __tablename__ = "config_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(200), doc="Who: the signed-in dashboard client")
    action: Mapped[str] = mapped_column(String(40), doc="zone_editor | fatigue_suggestion")
    summary: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text, doc="The configuration file written")
    backup_path: Mapped[str] = mapped_column(Text)
    diff: Mapped[str] = mapped_column(Text)
