"""Who may change things on the dashboard.

Mutations need the token of ``settings.serve.token`` (or ``FLOORWATCH_SERVE__TOKEN``):

* JSON API: ``Authorization: Bearer <token>``.
* HTML forms: sign in once on ``/login`` with the token; the server sets an HttpOnly, SameSite=Strict
  cookie holding an HMAC of the token (never the token itself). Form posts carrying that cookie are
  accepted; a post whose ``Origin`` names another host is refused (cross-site request forgery).

Read-only mode (``--read-only``) answers every mutation with 403. Without a token the app refuses to
start unless it is read-only.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import Settings

COOKIE_NAME = "floorwatch_session"


class NoTokenError(RuntimeError):
    """The dashboard was asked to allow mutations but no token is configured."""


@dataclass(frozen=True)
class DashboardState:
    """What every request handler needs."""

    settings: Settings
    sessions: sessionmaker[Session]
    media_dir: Path
    read_only: bool
    token: str | None
    config_path: Path | None = None  # the YAML the dashboard may change (zone editor, fatigue suggestions)

    def session_cookie(self) -> str:
        """Cookie value proving the browser signed in with the token (an HMAC, not the token)."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"floorwatch-dashboard-session", hashlib.sha256).hexdigest()

    def token_ok(self, candidate: str | None) -> bool:
        if not self.token or not candidate:
            return False
        return hmac.compare_digest(self.token.encode(), candidate.encode())

    def cookie_ok(self, request: Request) -> bool:
        value = request.cookies.get(COOKIE_NAME)
        if not self.token or not value:
            return False
        return hmac.compare_digest(self.session_cookie(), value)


def state(request: Request) -> DashboardState:
    """The app's :class:`DashboardState` (FastAPI dependency)."""
    dashboard: DashboardState = request.app.state.dashboard
    return dashboard


def require_bearer(request: Request) -> None:
    """Dependency of JSON mutations: 403 when read-only, 401 without a valid ``Authorization: Bearer``."""
    st = state(request)
    if st.read_only:
        raise HTTPException(403, "the dashboard runs read-only (--read-only): reviews are disabled")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise HTTPException(
            401, "missing 'Authorization: Bearer <token>' header", {"WWW-Authenticate": "Bearer"}
        )
    if not st.token_ok(value.strip()):
        raise HTTPException(401, "invalid bearer token", {"WWW-Authenticate": "Bearer"})


def require_form_session(request: Request) -> None:
    """Dependency of HTML form posts: 403 when read-only or cross-site, 401 when not signed in."""
    st = state(request)
    if st.read_only:
        raise HTTPException(403, "the dashboard runs read-only (--read-only): reviews are disabled")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(403, f"cross-site form post from {origin!r} refused")
    if not st.cookie_ok(request):
        raise HTTPException(401, "sign in on /login with the dashboard token first")
