"""Zone editor: draw a camera zone on its latest frame and save it into the configuration file.

* ``GET /zones/editor?camera=ID``: the page (``static/zone_editor.js``): the camera's snapshot, its zones
  drawn over it, a click-to-draw polygon, the zone id and the rules with their thresholds. The rule form
  is generated from the configuration model's JSON schema (``/api/config/rule-schema``: every field's
  type, default, bounds and description).
* ``GET /api/cameras/{id}/snapshot.jpg``: one frame grabbed from the camera's source now.
* ``POST /api/config/cameras/{id}/zones``: validated with the same pydantic model as start-up, written with
  :func:`floorwatch.review.config_write.apply_config_change` (backup, atomic replace, recorded, diff shown).
  Needs the token (bearer header, or the signed-in cookie of the page); read-only dashboards only show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from floorwatch.config import ZONE_ID_PATTERN, CameraZoneConfig, RuleConfig
from floorwatch.review.auth import require_bearer, require_form_session, state
from floorwatch.review.config_write import AppliedChange, ConfigChangeError, apply_config_change

router = APIRouter()


class ZoneIn(BaseModel):
    """A zone drawn in the editor (validated again as ``CameraZoneConfig`` with the whole file)."""

    model_config = ConfigDict(extra="forbid")
    zone_id: str = Field(pattern=ZONE_ID_PATTERN)
    name: str = Field("", max_length=200, description="Human name (used when the zone is new)")
    polygon: list[tuple[float, float]] = Field(max_length=100, description="Corners in pixels of the snapshot")
    rules: list[dict[str, Any]] = Field(default_factory=list, max_length=20)


def require_token(request: Request) -> None:
    """Bearer header (API clients) or the signed-in cookie with a same-origin request (the editor page)."""
    if request.headers.get("authorization"):
        require_bearer(request)
    else:
        require_form_session(request)


def _camera(request: Request, camera_id: str) -> Any:
    try:
        return state(request).settings.camera(camera_id)
    except KeyError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from exc


def grab_frame(source: str) -> bytes:
    """One JPEG frame of ``source`` (file: its first frame; stream: the next one). Raises SourceError."""
    from floorwatch.vision.sources import FrameSource

    src = FrameSource(source, camera_id="snapshot", max_frames=1, io_timeout_s=5.0).open()
    try:
        frame = next(iter(src))
    finally:
        src.close()
    ok, buf = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError(f"cannot encode a frame of {source!r}")
    return buf.tobytes()


@router.get("/api/cameras/{camera_id}/snapshot.jpg", tags=["api"], summary="A frame grabbed from the camera now")
def api_snapshot(request: Request, camera_id: str) -> Response:
    from floorwatch.vision.sources import SourceError

    cam = _camera(request, camera_id)
    try:
        jpeg = grab_frame(cam.source)
    except (SourceError, StopIteration, ValueError) as exc:
        raise HTTPException(502, f"camera {camera_id!r}: no frame from its source: {exc}") from exc
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/api/config/rule-schema", tags=["api"], summary="JSON schema of the zone rules (form of the editor)")
def api_rule_schema() -> dict[str, Any]:
    return TypeAdapter(RuleConfig).json_schema()


def _set_zone(camera_id: str, zone: CameraZoneConfig, name: str):  # type: ignore[no-untyped-def]
    def change(data: dict[str, Any]) -> str:
        cam = next((c for c in data.get("cameras") or [] if c.get("id") == camera_id), None)
        if cam is None:
            raise ValueError(f"no camera {camera_id!r} in the configuration file")
        entry = zone.model_dump(mode="json", exclude_defaults=False)
        if entry["polygon"] is not None:  # whole pixels stay integers in the file
            entry["polygon"] = [[int(v) if float(v).is_integer() else v for v in p] for p in entry["polygon"]]
        entry["rules"] = [
            {k: v for k, v in r.items() if k == "type" or v != _default(r["type"], k)} for r in entry["rules"]
        ]
        zones = cam.setdefault("zones", [])
        existing = next((i for i, z in enumerate(zones) if z.get("zone_id") == zone.zone_id), None)
        if existing is None:
            zones.append(entry)
        else:
            zones[existing] = entry
        site_zones = data.get("zones") or []
        if site_zones and all(z.get("id") != zone.zone_id for z in site_zones):
            site_zones.append({"id": zone.zone_id, "name": name or zone.zone_id.replace("_", " ").title()})
        verb = "added" if existing is None else "redrawn"
        return f"camera {camera_id}: zone {zone.zone_id} {verb} ({len(zone.polygon or [])} corners, " \
               f"rules: {', '.join(r.type for r in zone.rules) or 'none'})"

    return change


def _default(rule_type: str, field: str) -> Any:
    schema = TypeAdapter(RuleConfig).json_schema()
    for sub in schema.get("$defs", {}).values():
        if sub.get("properties", {}).get("type", {}).get("const") == rule_type:
            return sub["properties"].get(field, {}).get("default", object())
    return object()


@router.post(
    "/api/config/cameras/{camera_id}/zones", response_model=AppliedChange, tags=["api"],
    dependencies=[Depends(require_token)],
    summary="Save a drawn zone into the configuration file (validated, backed up, atomic, recorded)",
)  # fmt: skip
def api_save_zone(request: Request, camera_id: str, body: ZoneIn) -> AppliedChange:
    st = state(request)
    _camera(request, camera_id)
    if st.config_path is None:
        raise HTTPException(409, "the dashboard was started without --config: there is no file to change")
    try:
        zone = CameraZoneConfig.model_validate({"zone_id": body.zone_id, "polygon": body.polygon, "rules": body.rules})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'zone'}: {e['msg']}" for e in exc.errors())
        raise HTTPException(422, f"zone {body.zone_id!r} refused: {problems}") from exc
    client = request.client.host if request.client else "unknown client"
    try:
        applied = apply_config_change(st.config_path, _set_zone(camera_id, zone, body.name), st.sessions,
                                      f"zone editor ({client})", "zone_editor")  # fmt: skip
    except ConfigChangeError as exc:
        raise HTTPException(422, f"zone {body.zone_id!r} refused, {st.config_path.name} unchanged: {exc}") from exc
    from floorwatch.review.config_api import _reload

    _reload(request)
    return applied


@router.get("/zones/editor", response_class=HTMLResponse, include_in_schema=False)
def editor_page(request: Request, camera: str | None = None) -> HTMLResponse:
    from floorwatch.review.pages import _render

    st = state(request)
    cameras = st.settings.cameras
    current = _camera(request, camera) if camera else (cameras[0] if cameras else None)
    zones = [z.model_dump(mode="json") for z in current.zones] if current is not None else []
    return _render(
        request, "zone_editor.html.j2", cameras=cameras, camera=current, zones=zones,
        zone_ids=[z.id for z in st.settings.zones], config_file=Path(st.config_path).name if st.config_path else None,
    )  # fmt: skip
