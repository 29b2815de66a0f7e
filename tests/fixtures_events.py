"""Small factories for bus events (alerts, outages, anomalies) used by the bus, sink and writer tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from floorwatch.schemas.events import AlertEvent, AnomalyEvent, LatencyStamps, OutageEvent

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def alert(alert_id: str = "a1", phase: str = "started", second: float = 0.0, **kw: Any) -> AlertEvent:
    """One alert event ``second`` seconds after T0 (camera cam-1, zone press-1 unless overridden)."""
    at = T0 + timedelta(seconds=second)
    fields: dict[str, Any] = {
        "event_id": f"{alert_id}:{phase}:{second}",
        "alert_id": alert_id,
        "phase": phase,
        "rule": "restricted_zone_intrusion",
        "severity": "high",
        "camera_id": "cam-1",
        "zone_id": "press-1",
        "track_id": 7,
        "frame": int(second * 10),
        "video_ts": second,
        "occurred_at": at,
        "source": "line1.mp4",
    }
    fields.update(kw)
    return AlertEvent(**fields)


def with_latency(event: AlertEvent, captured_ms: int = 0) -> AlertEvent:
    at = event.occurred_at + timedelta(milliseconds=captured_ms)
    stamps = LatencyStamps(captured_at=at, inferred_at=at + timedelta(milliseconds=40))
    return event.model_copy(update={"latency": stamps})


def lifecycle(alert_id: str, updates: int = 2, camera_id: str = "cam-1") -> list[AlertEvent]:
    """started, ``updates`` x updated (one per second), ended."""
    evs = [alert(alert_id, "started", 0, camera_id=camera_id)]
    evs += [alert(alert_id, "updated", i + 1, camera_id=camera_id, people=i + 1) for i in range(updates)]
    evs.append(alert(alert_id, "ended", updates + 1, camera_id=camera_id))
    return evs


def outage(outage_id: str = "o1", ended: bool = False, camera_id: str = "cam-1") -> OutageEvent:
    return OutageEvent(
        event_id=f"{outage_id}:{'end' if ended else 'start'}",
        outage_id=outage_id,
        camera_id=camera_id,
        started_at=T0,
        ended_at=T0 + timedelta(minutes=3) if ended else None,
        reason="stream timeout",
    )


def anomaly(anomaly_id: str = "n1", score: float = 4.2) -> AnomalyEvent:
    return AnomalyEvent(
        event_id=f"{anomaly_id}:{score}",
        anomaly_id=anomaly_id,
        zone_id="boiler-room",
        asset="boiler-2",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=10),
        score=score,
        channels=["temp_c", "pressure_bar"],
        category="overheating",
        method="isolation_forest",
    )
