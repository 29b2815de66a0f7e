"""Server-rendered HTML pages of the dashboard (Jinja2; small vanilla JS in ``static/app.js``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from floorwatch.review import api, plots
from floorwatch.review.auth import COOKIE_NAME, require_form_session, state
from floorwatch.review.media import png_data_uri
from floorwatch.review.reports import list_reports
from floorwatch.review.site_time import site_time
from floorwatch.schemas.evidence import AlertSummary
from floorwatch.schemas.filters import AlertFilter
from floorwatch.schemas.tables import Alert, Zone
from floorwatch.storage import queries

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["dt"] = lambda v, fmt="%Y-%m-%d %H:%M:%S": v.astimezone(UTC).strftime(fmt) if v else "-"


templates.env.filters["site_time"] = site_time
templates.env.globals["level_colors"] = plots.LEVEL_COLORS
FILTER_KEYS = ("camera", "zone", "rule", "status", "review", "start", "end")


def _render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    st = state(request)
    if name == "fatigue.html.j2":
        ctx |= _fatigue_ctx(request)
    ctx |= {"read_only": st.read_only, "signed_in": st.cookie_ok(request), "site_name": st.settings.site.name,
            "site_tz": st.settings.site.timezone}
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def _errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors()]


@router.get("/")
def index() -> RedirectResponse:
    return RedirectResponse("/alerts", status_code=307)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=api.MAX_LIMIT)] = 25,
    partial: bool = False,
) -> HTMLResponse:
    raw = {k: v for k in FILTER_KEYS if (v := request.query_params.get(k))}
    try:
        filters = AlertFilter.model_validate(raw)
    except ValidationError as exc:
        return _render(
            request, "alerts.html.j2", 422, errors=_errors(exc), filters=raw, result=None, query=""
        )
    result = api.alert_page(state(request), filters, limit, (page - 1) * limit)
    query = urlencode({**raw, "limit": limit})
    pages = max(1, -(-result.total // limit))
    name = "alert_rows.html.j2" if partial else "alerts.html.j2"
    return _render(request, name, filters=raw, result=result, page=page, pages=pages, query=query, errors=[])


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: str, error: str | None = None) -> HTMLResponse:
    with state(request).sessions() as s:
        row = s.get(Alert, alert_id)
        if row is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        alert = AlertSummary.model_validate(row, from_attributes=True)
    return _render(request, "alert.html.j2", alert=alert, error=error)


@router.post("/alerts/{alert_id}/review", dependencies=[Depends(require_form_session)])
def review_form(
    request: Request,
    alert_id: str,
    action: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        body = api.ReviewRequest(action=action, reason=reason or None)  # type: ignore[arg-type]
    except ValidationError as exc:
        with state(request).sessions() as s:
            row = s.get(Alert, alert_id)
            if row is None:
                raise HTTPException(404, f"no alert {alert_id!r}") from exc
            alert = AlertSummary.model_validate(row, from_attributes=True)
        return _render(request, "alert.html.j2", 422, alert=alert, error="; ".join(_errors(exc)))
    with state(request).sessions() as s:
        try:
            queries.review_alert(s, alert_id, body.action, body.reason)
        except queries.AlertNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        s.commit()
    return RedirectResponse(f"/alerts/{alert_id}", status_code=303)


@router.get("/zones", response_class=HTMLResponse)
def zones_page(request: Request) -> HTMLResponse:
    return _render(
        request,
        "zones.html.j2",
        zones=api.zones_overview(state(request)),
        fatigue=api.fatigue(state(request), None),
    )


@router.get("/zones/{zone_id}", response_class=HTMLResponse)
def zone_page(
    request: Request,
    zone_id: str,
    days: Annotated[int | None, Query(ge=1, le=366)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """A zone's assessments and evidence: by default the evidence of its latest assessment's period (a trial saw
    "last 7 days: 0 incidents" beside an assessment of last year built on two), or of the last ``days`` days."""
    st = state(request)
    limit = 20
    risk = api.risk_page(st, zone_id, limit, (page - 1) * limit)
    end = datetime.now(UTC)
    start = end - timedelta(days=days or 7)
    period = api.latest_assessment(st, zone_id) if days is None else None
    if period is not None:
        start, end = period.period_start, period.period_end
    with st.sessions() as s:
        zone = s.get(Zone, zone_id)
        evidence = queries.zone_evidence(s, zone_id, start, end)
    points = [(r.period_end, r.score) for r in risk.items if r.score is not None]
    png = plots.risk_history({zone_id: points}) if len(points) > 1 else None
    return _render(
        request, "zone.html.j2", zone=zone, risk=risk, evidence=evidence, days=days, page=page, period=period,
        pages=max(1, -(-risk.total // limit)), plot=png_data_uri(png) if png else None,
    )  # fmt: skip


@router.get("/fatigue", response_class=HTMLResponse)
def fatigue_page(request: Request, days: Annotated[str | None, Query(max_length=3)] = None) -> HTMLResponse:
    # The form sends days= when left empty: the whole span of the stored alerts.
    n = int(days) if days and days.isdigit() else None
    if days and (n is None or not 1 <= n <= 366):
        raise HTTPException(422, f"days {days!r}: a whole number of days, 1..366, or empty for all alerts")
    return _render(request, "fatigue.html.j2", fatigue=api.fatigue(state(request), n), days=n)


def _fatigue_ctx(request: Request) -> dict[str, Any]:
    from sqlalchemy import select

    from floorwatch.schemas.tables import ConfigChange

    st = state(request)
    with st.sessions() as s:
        changes = list(s.scalars(select(ConfigChange).order_by(ConfigChange.id.desc()).limit(10)))
    return {"show_apply": True, "config_file": st.config_path.name if st.config_path else None, "changes": changes}


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    limit = 50
    reports = list_reports(state(request).media_dir, limit + 1, (page - 1) * limit)
    return _render(request, "reports.html.j2", reports=reports[:limit], page=page, more=len(reports) > limit)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return _render(request, "login.html.j2", error=None)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=1000)]) -> Response:
    st = state(request)
    if st.read_only:
        return _render(
            request, "login.html.j2", 403, error="The dashboard runs read-only: nobody can sign in."
        )
    if not st.token_ok(token):
        return _render(request, "login.html.j2", 401, error="Wrong token.")
    resp = RedirectResponse("/alerts", status_code=303)
    resp.set_cookie(COOKIE_NAME, st.session_cookie(), httponly=True, samesite="strict", max_age=12 * 3600)
    return resp


@router.post("/logout")
def logout() -> Response:
    resp = RedirectResponse("/alerts", status_code=303)
    resp.delete_cookie(COOKIE_NAME)
    return resp
