"""The triage dashboard: FastAPI with server-rendered pages, a JSON API and the media files.

``create_app(settings)`` refuses to build an app that allows reviews without a token; see
:mod:`floorwatch.review.auth` for how the token is presented.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import Settings
from floorwatch.review import api, config_api, health, live, pages, zone_editor
from floorwatch.review.auth import DashboardState, NoTokenError, state
from floorwatch.review.media import UnsafeMediaPath, resolve_media

STATIC_DIR = Path(__file__).parent / "static"
# Media (snapshots, clips, rendered reports) may not run scripts or load anything from elsewhere.
MEDIA_CSP = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"


def create_app(
    settings: Settings,
    read_only: bool = False,
    sessions: sessionmaker[Session] | None = None,
    config_path: Path | None = None,
) -> FastAPI:
    """Build the dashboard app.

    Args:
        settings: validated configuration (database, media dir, ``serve.token``).
        read_only: serve pages and the API but answer every mutation with 403.
        sessions: sessionmaker to use; default ``floorwatch.app.open_database(settings)`` (checks the schema).
        config_path: the YAML file ``settings`` came from; configuration changes from the dashboard (applying
            a fatigue suggestion) are written there, and refused without it.

    Raises:
        NoTokenError: no ``serve.token`` (nor ``FLOORWATCH_SERVE__TOKEN``) and not ``read_only``.
        SchemaOutdatedError: the database is not migrated to this code's head.
    """
    token = settings.serve.token
    if not token and not read_only:
        raise NoTokenError(
            "no dashboard token: set serve.token (16+ characters) in the config or FLOORWATCH_SERVE__TOKEN, "
            "or start with --read-only"
        )
    if sessions is None:
        from floorwatch.app import open_database

        sessions = open_database(settings)
    app = FastAPI(
        title="Floorwatch dashboard",
        description="Alert triage, zone risk and reports. Mutations need `Authorization: Bearer <token>`.",
        version="0.1.0",
    )
    app.state.dashboard = DashboardState(
        settings=settings,
        sessions=sessions,
        media_dir=Path(settings.media.dir),
        read_only=read_only,
        token=token,
        config_path=config_path,
    )
    app.include_router(api.router)
    app.include_router(zone_editor.router)  # before pages: /zones/editor is not a zone id
    app.include_router(pages.router)
    app.include_router(health.router)
    app.include_router(config_api.router)
    app.include_router(live.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get(
        "/media/{path:path}", include_in_schema=True, tags=["media"], summary="A file under the media dir"
    )
    def media(request: Request, path: str) -> FileResponse:
        try:
            real = resolve_media(state(request).media_dir, path)
        except UnsafeMediaPath as exc:
            raise HTTPException(400, str(exc)) from exc
        except FileNotFoundError as exc:
            raise HTTPException(404, f"no media file {path!r}") from exc
        return FileResponse(
            real, headers={"Content-Security-Policy": MEDIA_CSP, "X-Content-Type-Options": "nosniff"}
        )

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app
