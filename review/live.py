"""Live view: an MJPEG stream of a camera's annotated frames (opt-in, rate-limited, behind the token).

The frames come from ``floorwatch watch --live-view-fps N`` (:mod:`floorwatch.vision.live_view`), which
replaces ``<media dir>/live/<camera>.jpg``; ``GET /api/cameras/{id}/live.mjpg`` sends each new version as
one part of a ``multipart/x-mixed-replace`` response (what browsers show in an ``<img>``), at most
``MAX_FPS`` parts a second, for ``seconds`` (default 300) and to at most ``MAX_STREAMS`` viewers at once.
Needs the token: the signed-in cookie of the page, or ``Authorization: Bearer``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from floorwatch.review.auth import state
from floorwatch.review.zone_editor import require_token
from floorwatch.vision.live_view import live_path

router = APIRouter()
BOUNDARY = "floorwatchlive"
MAX_FPS = 5.0
MAX_STREAMS = 8


class _Viewers:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def enter(self) -> bool:
        with self.lock:
            if self.n >= MAX_STREAMS:
                return False
            self.n += 1
            return True

    def leave(self) -> None:
        with self.lock:
            self.n -= 1


_viewers = _Viewers()


async def mjpeg_parts(path: Path, seconds: float, max_fps: float = MAX_FPS) -> AsyncIterator[bytes]:
    """Each new version of ``path`` as one multipart part, at most ``max_fps`` a second, for ``seconds``."""
    end = time.monotonic() + seconds
    last_mtime = None
    try:
        while time.monotonic() < end:
            try:
                mtime = path.stat().st_mtime_ns
                if mtime != last_mtime:
                    jpeg = path.read_bytes()
                    last_mtime = mtime
                    yield (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                           .encode() + jpeg + b"\r\n")  # fmt: skip
            except FileNotFoundError:
                pass
            await asyncio.sleep(1.0 / max_fps)
    finally:
        _viewers.leave()


def require_viewer(request: Request) -> None:
    """The token (cookie or bearer); a read-only dashboard has none, so it shows no live video."""
    if state(request).read_only:
        raise HTTPException(403, "the live view needs the dashboard token; this dashboard runs read-only")
    require_token(request)


@router.get("/api/cameras/{camera_id}/live.mjpg", tags=["api"], dependencies=[Depends(require_viewer)],
            summary="MJPEG stream of the camera's annotated frames (watch --live-view-fps; needs the token)")  # fmt: skip
def api_live(
    request: Request,
    camera_id: str,
    seconds: Annotated[float, Query(gt=0, le=3600, description="Stream for this long")] = 300.0,
) -> StreamingResponse:
    st = state(request)
    try:
        st.settings.camera(camera_id)
    except KeyError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from exc
    path = live_path(st.media_dir, camera_id)
    if not path.is_file():
        raise HTTPException(
            404, f"no live view of {camera_id!r}: start `floorwatch watch --live-view-fps 2` for this camera"
        )
    if not _viewers.enter():
        raise HTTPException(429, f"at most {MAX_STREAMS} live views at once; close one and retry")
    return StreamingResponse(
        mjpeg_parts(path, seconds), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


@router.get("/cameras/{camera_id}/live", response_class=HTMLResponse, include_in_schema=False)
def live_page(request: Request, camera_id: str) -> HTMLResponse:
    from floorwatch.review.pages import _render

    st = state(request)
    try:
        st.settings.camera(camera_id)
    except KeyError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from exc
    return _render(request, "live.html.j2", camera_id=camera_id,
                   available=live_path(st.media_dir, camera_id).is_file())  # fmt: skip
