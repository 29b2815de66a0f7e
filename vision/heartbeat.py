"""Camera heartbeats: a ``watch`` process writes each camera's health into the shared database.

Every ``interval_s`` seconds one row per camera is upserted into ``camera_heartbeats`` keyed by
(camera, process), so several ``watch`` processes on several machines show up on one health page
(:mod:`floorwatch.review.health`) and a restarted process adds a row instead of fighting over one.
A failed write is logged and retried at the next beat; it never stops the cameras.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import Settings
from floorwatch.schemas.tables import CameraHeartbeat
from floorwatch.storage.db import session_scope
from floorwatch.storage.upsert import upsert
from floorwatch.vision.telemetry import CameraTelemetry, VisionTelemetry

log = logging.getLogger(__name__)

KEY = ["camera_id", "process_id"]
UPDATED = [c.name for c in CameraHeartbeat.__table__.columns if c.name not in KEY]


def this_process() -> str:
    """``host:pid:start-epoch`` (a reused pid after a reboot still gets a new id)."""
    return f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"


@dataclass
class _Seen:
    at: float  # monotonic seconds
    read: int
    processed: int


def camera_state(cam: CameraTelemetry, final: bool) -> str:
    """``stopped`` (process exiting, or the source ended: a recorded file), ``reconnecting`` (in an outage),
    ``starting`` (no frame yet), ``live``."""
    if final or cam.ended():
        return "stopped"
    if cam.outage_since is not None:
        return "reconnecting"
    return "live" if cam.last_frame_at is not None else "starting"


def heartbeat_row(
    cam: CameraTelemetry, process_id: str, interval_s: float, now: datetime, prev: _Seen | None, final: bool = False
) -> tuple[dict[str, Any], _Seen]:
    """The ``camera_heartbeats`` row of ``cam`` now, and what to compare the next beat against.

    ``fps_*`` are frames per second since ``prev`` (None on the first beat); latency percentiles and
    outage counts come from :class:`CameraTelemetry`.
    """
    seen = _Seen(time.monotonic(), cam.frames_read(), cam.frames_processed())
    fps_read = fps_processed = None
    if prev is not None and seen.at > prev.at:
        fps_read = (seen.read - prev.read) / (seen.at - prev.at)
        fps_processed = (seen.processed - prev.processed) / (seen.at - prev.at)
    p50, p95 = cam.latency_percentiles()
    row = {
        "camera_id": cam.camera_id, "process_id": process_id, "host": socket.gethostname(),
        "state": camera_state(cam, final), "down_since": cam.outage_since, "started_at": cam.started_at,
        "updated_at": now, "interval_s": interval_s, "last_frame_at": cam.last_frame_at,
        "frames_read": seen.read, "frames_processed": seen.processed, "frames_dropped": cam.frames_dropped(),
        "fps_read": fps_read, "fps_processed": fps_processed, "latency_p50_s": p50, "latency_p95_s": p95,
        "outages_24h": cam.outages_since(now - timedelta(hours=24)),
    }  # fmt: skip
    return row, seen


class HeartbeatWriter:
    """Upserts every camera's heartbeat row each ``interval_s`` seconds from a daemon thread.

    Args:
        sessions: sessionmaker of the shared (migrated) database.
        telemetry: the process's :class:`VisionTelemetry`.
        interval_s: seconds between beats (the health page calls a camera down after 3 missed beats).
        process_id: default :func:`this_process`.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        telemetry: VisionTelemetry,
        interval_s: float = 10.0,
        process_id: str | None = None,
    ):
        if interval_s <= 0:
            raise ValueError(f"heartbeat interval {interval_s} s: must be > 0")
        self.sessions = sessions
        self.telemetry = telemetry
        self.interval_s = interval_s
        self.process_id = process_id or this_process()
        self._prev: dict[str, _Seen] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-heartbeat", daemon=True)

    def beat(self, final: bool = False) -> bool:
        """Write one row per camera now; False (logged) when the database refused."""
        now = datetime.now(UTC)
        rows = []
        for cam in list(self.telemetry.cameras.values()):
            row, self._prev[cam.camera_id] = heartbeat_row(
                cam, self.process_id, self.interval_s, now, self._prev.get(cam.camera_id), final
            )
            rows.append(row)
        try:
            with session_scope(self.sessions) as s:
                upsert(s, CameraHeartbeat, rows, key=KEY, update=UPDATED)
        except SQLAlchemyError as exc:
            log.warning("camera heartbeat not written (%s); retrying in %.0f s", exc, self.interval_s)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()

    def start(self) -> HeartbeatWriter:
        """Write a first beat now and then every ``interval_s`` seconds."""
        self.beat()
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop beating and mark every camera of this process ``stopped``."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval_s + 5)
        self.beat(final=True)


@contextmanager
def observed(
    settings: Settings, telemetry: VisionTelemetry, metrics_port: int | None, metrics_host: str, heartbeat_s: float
) -> Iterator[None]:
    """``/metrics`` (when ``metrics_port`` is given) and database heartbeats (when ``heartbeat_s`` > 0) around
    a ``watch`` run; both stop on the way out, the heartbeats after marking the cameras ``stopped``.

    Raises:
        MetricsPortError: the port cannot be bound. SchemaOutdatedError / SQLAlchemyError: no usable database.
    """
    from floorwatch.app import prepare_database
    from floorwatch.metrics import serve_metrics

    server = serve_metrics(telemetry.registry, metrics_port, metrics_host) if metrics_port is not None else None
    writer: HeartbeatWriter | None = None
    try:
        if heartbeat_s > 0:
            writer = HeartbeatWriter(prepare_database(settings), telemetry, heartbeat_s).start()
        yield
    finally:
        if writer is not None:
            writer.close()
        if server is not None:
            server.close()
