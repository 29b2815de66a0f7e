"""Events that cross the bus (Kafka topic or in-process). One JSON schema per kind, validated on both ends."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

Severity = Literal["low", "medium", "high", "critical"]
AlertPhase = Literal["started", "updated", "ended"]
RuleName = Literal["restricted_zone_intrusion", "person_down", "missing_ppe", "dwell", "crowding", "hot_spot"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=200, description="Stable id: redelivery of the same event is a no-op")


class LatencyStamps(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    captured_at: datetime = Field(description="Wall time the frame was read from the source")
    inferred_at: datetime = Field(description="Wall time detection + tracking finished for that frame")
    published_at: datetime | None = Field(None, description="Wall time the event was handed to the bus")


class AlertEvent(_Event):
    kind: Literal["alert"] = "alert"
    alert_id: str = Field(min_length=1, max_length=100, description="Deterministic id of the alert (all phases share it)")
    phase: AlertPhase
    rule: RuleName
    severity: Severity
    camera_id: str = Field(min_length=1, max_length=64)
    zone_id: str = Field(min_length=1, max_length=64)
    track_id: int | None = Field(None, description="Tracker id of the person; None for zone-level rules (crowding)")
    frame: int = Field(ge=0, description="0-based frame index where this phase happened")
    video_ts: float = Field(ge=0, description="Seconds into the stream/video")
    occurred_at: datetime = Field(description="Wall/video time of this phase")
    source: str = Field("", max_length=1000, description="Video file or stream the alert came from")
    snapshot: str | None = Field(None, description="Annotated snapshot path (relative to the media dir)")
    clip: str | None = Field(None, description="Clip path (relative to the media dir)")
    people: int | None = Field(None, ge=0, description="People in the zone (crowding)")
    details: dict[str, Any] = Field(default_factory=dict, description="Rule-specific facts (confidence, label, ...)")
    latency: LatencyStamps | None = None


class OutageEvent(_Event):
    kind: Literal["outage"] = "outage"
    outage_id: str = Field(min_length=1, max_length=100)
    camera_id: str = Field(min_length=1, max_length=64)
    started_at: datetime
    ended_at: datetime | None = Field(None, description="None while the camera is still blind")
    reason: str = Field(max_length=2000)


class AnomalyEvent(_Event):
    kind: Literal["anomaly"] = "anomaly"
    anomaly_id: str = Field(min_length=1, max_length=100)
    zone_id: str = Field(min_length=1, max_length=64)
    asset: str = Field(min_length=1, max_length=200, description="Machine / sensor group")
    started_at: datetime
    ended_at: datetime
    score: float = Field(ge=0)
    channels: list[str] = Field(default_factory=list, description="Channels that contributed most")
    category: Literal["overheating", "vibration", "pressure", "electrical", "flow", "other"] = "other"
    method: str = Field("", max_length=200)


BusEvent = AlertEvent | OutageEvent | AnomalyEvent
"""Any event that crosses the bus; the one name every producer, bus and writer uses."""

Event = Annotated[BusEvent, Field(discriminator="kind")]
EVENT_ADAPTER: TypeAdapter[BusEvent] = TypeAdapter(Event)

TOPIC_SUFFIX: dict[str, str] = {"alert": "alerts", "outage": "outages", "anomaly": "anomalies"}


def event_key(event: BusEvent) -> str:
    """Partition key: order holds per camera (alerts, outages) or per zone (anomalies)."""
    if isinstance(event, AnomalyEvent):
        return event.zone_id
    return event.camera_id


def parse_event(raw: bytes | str) -> BusEvent:
    """Validate a JSON message against the event schema (raises pydantic.ValidationError)."""
    return EVENT_ADAPTER.validate_json(raw)
