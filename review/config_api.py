"""Configuration changes from the dashboard: apply a fatigue suggestion in one click, list past changes.

Mutations need the token (API: bearer; pages: the signed-in cookie) and a dashboard started with
``--config FILE``; the write itself is :func:`floorwatch.review.config_write.apply_config_change`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from floorwatch.config import ZONE_ID_PATTERN, load_settings
from floorwatch.review import api
from floorwatch.review.auth import DashboardState, require_bearer, require_form_session, state
from floorwatch.review.config_write import (
    AppliedChange,
    ConfigChangeError,
    apply_config_change,
    set_rule_parameter,
)
from floorwatch.review.fatigue import ThresholdSuggestion
from floorwatch.schemas.tables import ConfigChange

router = APIRouter()


class ApplySuggestion(BaseModel):
    """Apply the current threshold suggestion of one (zone, rule)."""

    model_config = ConfigDict(extra="forbid")
    zone_id: str = Field(pattern=ZONE_ID_PATTERN)
    rule: str = Field(pattern=r"^[a-z_]{1,40}$")
    operator: str = Field("", max_length=100, description="Who applies it (recorded with the client address)")


class ChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    applied_at: datetime
    actor: str
    action: str
    summary: str
    path: str
    backup_path: str
    diff: str


def _actor(request: Request, operator: str) -> str:
    client = request.client.host if request.client else "unknown client"
    return f"{operator.strip() or 'token holder'} ({client})"


def _reload(request: Request) -> None:
    """Use the file just written from the next request on (the suggestions read the rules' thresholds)."""
    st = state(request)
    assert st.config_path is not None
    request.app.state.dashboard = replace(st, settings=load_settings(st.config_path))


def apply_suggestion(st: DashboardState, body: ApplySuggestion, actor: str) -> AppliedChange:
    """Apply the suggestion the fatigue page shows now for (zone, rule) (recomputed here, not trusted from
    the client). Raises HTTPException 409 without a config file, 404 without such a suggestion, 422 when
    the change is refused."""
    if st.config_path is None:
        raise HTTPException(409, "the dashboard was started without --config: there is no file to change")
    suggestions: list[ThresholdSuggestion] = api.fatigue(st, None).suggestions
    found = next((s for s in suggestions if (s.zone_id, s.rule) == (body.zone_id, body.rule)), None)
    if found is None or found.parameter is None or found.suggested is None:
        raise HTTPException(404, f"no threshold suggestion for {body.rule} in zone {body.zone_id!r} now")
    try:
        return apply_config_change(
            st.config_path, set_rule_parameter(found.zone_id, found.rule, found.parameter, found.suggested),
            st.sessions, actor, "fatigue_suggestion",
        )  # fmt: skip
    except ConfigChangeError as exc:
        raise HTTPException(422, f"change refused, {st.config_path.name} unchanged: {exc}") from exc


@router.post(
    "/api/fatigue/apply", response_model=AppliedChange, tags=["api"], dependencies=[Depends(require_bearer)],
    summary="Apply a threshold suggestion to the configuration file (validated, backed up, recorded)",
)  # fmt: skip
def api_apply_suggestion(request: Request, body: ApplySuggestion) -> AppliedChange:
    applied = apply_suggestion(state(request), body, _actor(request, body.operator))
    _reload(request)
    return applied


@router.get("/api/config/changes", response_model=list[ChangeOut], tags=["api"],
            summary="Configuration changes made from the dashboard, newest first")  # fmt: skip
def api_config_changes(request: Request) -> list[ChangeOut]:
    with state(request).sessions() as s:
        rows = s.scalars(select(ConfigChange).order_by(ConfigChange.id.desc()).limit(100))
        return [ChangeOut.model_validate(r) for r in rows]


@router.post("/fatigue/apply", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[Depends(require_form_session)])  # fmt: skip
def form_apply_suggestion(
    request: Request,
    zone_id: Annotated[str, Form(pattern=ZONE_ID_PATTERN)],
    rule: Annotated[str, Form(pattern=r"^[a-z_]{1,40}$")],
    operator: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    from floorwatch.review.pages import _render

    st = state(request)
    body = ApplySuggestion(zone_id=zone_id, rule=rule, operator=operator)
    try:
        applied, error, code = apply_suggestion(st, body, _actor(request, operator)), None, 200
        _reload(request)
        st = state(request)
    except HTTPException as exc:
        applied, error, code = None, str(exc.detail), exc.status_code
    return _render(request, "fatigue.html.j2", code, fatigue=api.fatigue(st, None), days=None,
                   applied=applied, error=error)  # fmt: skip
