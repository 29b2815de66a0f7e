"""Camera health page and API: the heartbeats that ``watch`` processes write into the database.

A row whose process has missed three beats (``updated_at`` older than ``3 * interval_s``) is shown
``down`` since its last frame; outages of the last 24 h are counted from the stored ``camera_outages``
(every process, through the bus) or the process's own count, whichever is larger.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floorwatch.review.auth import state
from floorwatch.schemas.health import CameraHealth
from floorwatch.schemas.tables import CameraHeartbeat, CameraOutage

router = APIRouter()
MISSED_BEATS = 3


def health_of(rows: list[CameraHeartbeat], stored_outages: int, now: datetime) -> CameraHealth:
    """One camera's health from its heartbeat rows (one per ``watch`` process that ran it)."""
    row = max(rows, key=lambda r: r.updated_at)
    state_, down_since = row.state, row.down_since
    if state_ != "stopped" and now - row.updated_at > timedelta(seconds=MISSED_BEATS * row.interval_s):
        state_, down_since = "down", row.down_since or row.last_frame_at or row.updated_at
    elif state_ == "stopped":
        down_since = row.updated_at
    return CameraHealth(
        camera_id=row.camera_id, state=state_, down_since=down_since, process_id=row.process_id,  # type: ignore[arg-type]
        processes=len(rows), updated_at=row.updated_at, last_frame_at=row.last_frame_at,
        fps_read=row.fps_read, fps_processed=row.fps_processed, frames_read=row.frames_read,
        frames_processed=row.frames_processed, frames_dropped=row.frames_dropped,
        latency_p50_s=row.latency_p50_s, latency_p95_s=row.latency_p95_s,
        outages_24h=max(stored_outages, max(r.outages_24h for r in rows)),
    )  # fmt: skip


def camera_health(session: Session, configured: list[str], now: datetime | None = None) -> list[CameraHealth]:
    """Health of every camera that sent a heartbeat or is ``configured``, sorted by camera id."""
    now = now or datetime.now(UTC)
    by_camera: dict[str, list[CameraHeartbeat]] = {}
    for hb in session.scalars(select(CameraHeartbeat)):
        by_camera.setdefault(hb.camera_id, []).append(hb)
    outages: dict[str, int] = dict(
        session.execute(  # type: ignore[arg-type]
            select(CameraOutage.camera_id, func.count())
            .where(CameraOutage.started_at >= now - timedelta(hours=24))
            .group_by(CameraOutage.camera_id)
        ).all()
    )
    out = [health_of(rows, int(outages.get(cid, 0)), now) for cid, rows in by_camera.items()]
    out += [
        CameraHealth(camera_id=cid, state="unknown", outages_24h=int(outages.get(cid, 0)))
        for cid in configured
        if cid not in by_camera
    ]
    return sorted(out, key=lambda h: h.camera_id)


def _health(request: Request) -> list[CameraHealth]:
    st = state(request)
    with st.sessions() as s:
        return camera_health(s, [c.id for c in st.settings.cameras])


@router.get(
    "/api/cameras/health", response_model=list[CameraHealth], tags=["api"],
    summary="Per camera: state, frames/s, drops, frame-to-alert latency, outages (from watch heartbeats)",
)  # fmt: skip
def api_camera_health(request: Request) -> list[CameraHealth]:
    return _health(request)


@router.get("/cameras", response_class=HTMLResponse, include_in_schema=False)
def cameras_page(request: Request) -> HTMLResponse:
    from floorwatch.review.pages import _render

    return _render(request, "cameras.html.j2", cameras=_health(request), now=datetime.now(UTC))
