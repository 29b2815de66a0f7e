"""Zones and cameras from the configuration into the database, and placeholder rows for unknown ids.

Events and ingested reports may name zones or cameras the configuration does not (yet) list;
``ensure_zones`` / ``ensure_cameras`` create them (name = id) so foreign keys never fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.orm import Session

from floorwatch.config import Settings
from floorwatch.schemas.tables import Camera, Zone
from floorwatch.storage.upsert import upsert

SECRET_QUERY_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "pass",
        "token",
        "access_token",
        "api_key",
        "apikey",
        "key",
        "secret",
        "auth",
        "sig",
    }
)


def redact_url(source: str, mask: str | None = None) -> str:
    """Remove (or mask) credentials in a URL: ``user:pass@`` and secret-looking query parameters.

    Args:
        source: a camera source or any URL; strings that are not URLs (files, webcam indexes) pass unchanged.
        mask: ``None`` strips the user info entirely; a string (e.g. ``"***"``) replaces each secret instead.

    Returns:
        The URL without its secrets.
    """
    parts = urlsplit(source)
    if not parts.scheme or not parts.netloc:
        return source
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if mask is None:
            netloc = hostport
        else:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{mask}@{hostport}" if ":" in userinfo else f"{mask}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
            kept = [
                (k, mask if k.lower() in SECRET_QUERY_KEYS else v)
                for k, v in pairs
                if mask is not None or k.lower() not in SECRET_QUERY_KEYS
            ]
            query = urlencode(kept, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def camera_zone_map(settings: Settings) -> dict[str, list[str]]:
    """``camera id -> zone ids it watches`` from the configuration (for ``zone_evidence``)."""
    return {cam.id: [cz.zone_id for cz in cam.zones] for cam in settings.cameras}


def ensure_zones(session: Session, ids: Iterable[str]) -> None:
    """Create a zone row (name = id) for each id not in the database yet; existing rows are untouched."""
    rows = [{"id": zid, "name": zid} for zid in sorted({i for i in ids if i})]
    upsert(session, Zone, rows, key=["id"])


def ensure_cameras(session: Session, ids: Iterable[str]) -> None:
    """Create a camera row (name = id) for each id not in the database yet; existing rows are untouched."""
    rows = [{"id": cid, "name": cid} for cid in sorted({i for i in ids if i})]
    upsert(session, Camera, rows, key=["id"])


def sync_site(session: Session, settings: Settings) -> None:
    """Upsert the configured zones and cameras (names, descriptions, credential-free sources).

    Zones only referenced by a camera get a placeholder row. Rows no longer configured are kept:
    alerts and reports still point at them. The caller commits.
    """
    zone_rows = [{"id": z.id, "name": z.name or z.id, "description": z.description} for z in settings.zones]
    upsert(session, Zone, zone_rows, key=["id"], update=["name", "description"])
    ensure_zones(session, (cz.zone_id for cam in settings.cameras for cz in cam.zones))
    cam_rows = [
        {"id": c.id, "name": c.name or c.id, "source": redact_url(c.source)} for c in settings.cameras
    ]
    upsert(session, Camera, cam_rows, key=["id"], update=["name", "source"])
