"""Server-rendered dashboard pages and the sign-in + form-post review flow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import MediaConfig, ServeConfig, Settings
from floorwatch.review.app import create_app
from floorwatch.review.auth import COOKIE_NAME
from floorwatch.storage.db import session_scope
from tests.review_factories import populate

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)

TOKEN = "s3cret-token-for-tests-0123"


@pytest.fixture
def client(migrated_db: sessionmaker[Session], tmp_path: Path) -> Iterator[TestClient]:
    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        populate(s, media, T0)
    settings = Settings(media=MediaConfig(dir=media), serve=ServeConfig(token=TOKEN))
    with TestClient(create_app(settings, sessions=migrated_db), base_url="http://dash.local") as c:
        yield c


def test_pages_render(client: TestClient) -> None:
    alerts = client.get("/alerts", params={"zone": "press-shop", "limit": 2})
    assert alerts.status_code == 200 and "6 alerts" in alerts.text and "page 1 of 3" in alerts.text
    assert alerts.text.count('data-alert="') == 2
    rows = client.get("/alerts", params={"zone": "press-shop", "limit": 2, "page": 3, "partial": 1}).text
    assert rows.count('data-alert="') == 2 and "<html" not in rows
    assert client.get("/alerts", params={"status": "nope"}).status_code == 422
    detail = client.get("/alerts/a-wh-0").text
    assert "/media/snapshots/cam-2/a-wh-0.jpg" in detail and "Sign in" in detail
    zone = client.get("/zones/warehouse", params={"days": 7}).text
    assert (
        "critical" in zone and "Warehouse" in zone and 'id="incident-' in zone and "[NAME] was struck" in zone
    )
    zones = client.get("/zones").text
    assert "Press shop" in zones and "restricted_zone_intrusion" in zones and "67%" in zones
    assert "raise min_seconds" in client.get("/fatigue", params={"days": 30}).text
    assert client.get("/reports").status_code == 200
    assert client.get("/zones/nowhere").status_code == 404


def test_form_review_needs_sign_in(client: TestClient) -> None:
    form = {"action": "dismissed", "reason": "reflection on the floor"}
    assert client.post("/alerts/a-wh-0/review", data=form, follow_redirects=False).status_code == 401
    assert client.post("/login", data={"token": "wrong-token-wrong-token"}).status_code == 401
    login = client.post("/login", data={"token": TOKEN}, follow_redirects=False)
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and TOKEN not in cookie
    assert client.cookies.get(COOKIE_NAME)
    cross = client.post("/alerts/a-wh-0/review", data=form, headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    no_reason = client.post("/alerts/a-wh-0/review", data={"action": "dismissed"})
    assert no_reason.status_code == 422 and "needs a reason" in no_reason.text
    done = client.post("/alerts/a-wh-0/review", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/alerts/a-wh-0"
    assert "dismissed: reflection on the floor" in client.get("/alerts/a-wh-0").text
    # The cookie does not stand in for the API's bearer token.
    assert client.post("/api/alerts/a-wh-0/review", json={"action": "acknowledged"}).status_code == 401


def test_zone_page_flags_a_report_with_prompt_markup_and_one_read_in_part(
    migrated_db: sessionmaker[Session], tmp_path: Path
) -> None:
    from floorwatch.schemas.tables import IncidentExtraction

    media = tmp_path / "media"
    with session_scope(migrated_db) as s:
        inc_id = populate(s, media, T0)["incident_id"]
        s.add(IncidentExtraction(
            incident_id=inc_id, prompt_version="v", model="m", input_hash="0" * 64, status="ok",
            hazard_category="struck_by", raw={"text": "{}", "prompt_markup": True, "read_chars": 30},
        ))
    settings = Settings(media=MediaConfig(dir=media), serve=ServeConfig(token=TOKEN))
    with TestClient(create_app(settings, sessions=migrated_db), base_url="http://dash.local") as c:
        zone = c.get("/zones/warehouse", params={"days": 7}).text
        plain = c.get("/zones/press-shop", params={"days": 7}).text
    assert "Check by hand: the report holds prompt markup (made inert) or words addressed to the model" in zone
    assert "The model read only the first 30 of" in zone and "Check by hand" not in plain


def test_zone_page_shows_evidence_in_site_time_and_a_date_alone_without_a_clock(
    migrated_db: sessionmaker[Session], tmp_path: Path
) -> None:
    """The zone page's heading says site time; its evidence was written in UTC, and a report known by its date
    alone showed the 00:00 it is stored at as if it were the time of the event."""
    from sqlalchemy import select

    from floorwatch.config import SiteConfig
    from floorwatch.schemas.tables import IncidentReport

    media = tmp_path / "media"
    tokyo = ZoneInfo("Asia/Tokyo")
    with session_scope(migrated_db) as s:
        inc_id = populate(s, media, T0)["incident_id"]
        rep = s.get(IncidentReport, inc_id)
        assert rep is not None and rep.occurred_at is not None
        clocked = rep.occurred_at.astimezone(tokyo)
        midnight = datetime.combine(clocked.date(), datetime.min.time(), tokyo)
        other = IncidentReport(source="export.csv", source_id="d1", content_hash="1" * 64, occurred_at=midnight,
                               time_of_day_known=False, zone_id=rep.zone_id, title="Dated only",
                               original_text="Cut on a strap.", redacted_text="Cut on a strap.")
        s.add(other)
        zone_id = rep.zone_id
        assert s.scalar(select(IncidentReport.id).where(IncidentReport.source_id == "d1"))
    settings = Settings(media=MediaConfig(dir=media), serve=ServeConfig(token=TOKEN),
                        site=SiteConfig(timezone="Asia/Tokyo"))
    with TestClient(create_app(settings, sessions=migrated_db), base_url="http://dash.local") as c:
        page = c.get(f"/zones/{zone_id}", params={"days": 7}).text
    assert f"{clocked:%Y-%m-%d %H:%M}" in page  # the clocked report in Tokyo time, not UTC
    dated = page[page.index("Dated only"):].split("</li>")[0]
    assert f"{midnight:%Y-%m-%d}" in dated and "00:00" not in dated
