"""Camera health as shown by the dashboard (``/cameras``, ``/api/cameras/health``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

CameraState = Literal["live", "reconnecting", "starting", "down", "stopped", "unknown"]


class CameraHealth(BaseModel):
    """One camera, from the newest heartbeat of the ``watch`` processes that run it.

    ``state``: ``live`` (frames arrive), ``reconnecting`` (the stream dropped and is being retried since
    ``down_since``), ``starting`` (no frame yet), ``down`` (the process stopped sending heartbeats; since
    its last frame or beat), ``stopped`` (the process exited cleanly), ``unknown`` (configured, no heartbeat).
    """

    camera_id: str
    state: CameraState
    down_since: datetime | None = None
    process_id: str | None = Field(None, description="host:pid:start of the watch process of the newest beat")
    processes: int = Field(0, description="watch processes that reported this camera")
    updated_at: datetime | None = None
    last_frame_at: datetime | None = None
    fps_read: float | None = Field(None, description="Frames per second read from the source, last interval")
    fps_processed: float | None = Field(None, description="Frames per second through the pipeline, last interval")
    frames_read: int = 0
    frames_processed: int = 0
    frames_dropped: int = Field(0, description="Oldest frames dropped from the full capture queue")
    latency_p50_s: float | None = Field(None, description="Frame-to-alert latency, median, seconds")
    latency_p95_s: float | None = Field(None, description="Frame-to-alert latency, 95th percentile, seconds")
    outages_24h: int = Field(0, description="Outages started in the last 24 h (stored outages and heartbeats)")
