"""Dashboard JSON API and pages over a real (migrated) database, through FastAPI's TestClient."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import MediaConfig, ServeConfig, Settings
from floorwatch.review.app import create_app
from floorwatch.review.auth import NoTokenError
from floorwatch.storage.db import session_scope
from tests.review_factories import populate

TOKEN = "s3cret-token-for-tests-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _settings(media: Path, token: str | None = TOKEN) -> Settings:
    return Settings(media=MediaConfig(dir=media), serve=ServeConfig(token=token))


@pytest.fixture
def media(tmp_path: Path) -> Path:
    d = tmp_path / "media"
    d.mkdir()
    return d


@pytest.fixture
def filled(migrated_db: sessionmaker[Session], media: Path) -> sessionmaker[Session]:
    with session_scope(migrated_db) as s:
        populate(s, media)
    return migrated_db


@pytest.fixture
def client(filled: sessionmaker[Session], media: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(media), sessions=filled)) as c:
        yield c


@pytest.fixture
def ro_client(filled: sessionmaker[Session], media: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(media, token=None), read_only=True, sessions=filled)) as c:
        yield c


def test_refuses_to_start_without_token_unless_read_only(filled: sessionmaker[Session], media: Path) -> None:
    with pytest.raises(NoTokenError, match="FLOORWATCH_SERVE__TOKEN"):
        create_app(_settings(media, token=None), sessions=filled)
    with TestClient(create_app(_settings(media, token=None), read_only=True, sessions=filled)) as c:
        assert c.get("/api/alerts", params={"limit": 1}).status_code == 200  # serves without a token


def test_list_filter_paginate(client: TestClient) -> None:
    page = client.get("/api/alerts", params={"limit": 3}).json()
    assert page["total"] == 7 and len(page["items"]) == 3
    starts = [a["started_at"] for a in page["items"]]
    assert starts == sorted(starts, reverse=True)
    rest = client.get("/api/alerts", params={"limit": 3, "offset": 6}).json()
    assert len(rest["items"]) == 1
    seen = {a["id"] for a in page["items"]} | {a["id"] for a in rest["items"]}
    mid = client.get("/api/alerts", params={"limit": 3, "offset": 3}).json()
    assert len(seen | {a["id"] for a in mid["items"]}) == 7
    wh = client.get("/api/alerts", params={"zone": "warehouse"}).json()
    assert [a["id"] for a in wh["items"]] == ["a-wh-0"]
    assert client.get("/api/alerts", params={"rule": "person_down", "camera": "cam-1"}).json()["total"] == 0
    assert client.get("/api/alerts", params={"review": "dismissed"}).json()["total"] == 4
    window = {"start": "2024-03-06T00:00:00Z", "end": "2024-03-07T00:00:00Z"}
    assert [a["id"] for a in client.get("/api/alerts", params=window).json()["items"]] == ["a-wh-0"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"status": "bogus"},
        {"review": "maybe"},
        {"zone": "../etc"},
        {"start": "yesterday"},
        {"start": "2024-03-06T00:00:00"},  # naive
        {"start": "2024-03-07T00:00:00Z", "end": "2024-03-06T00:00:00Z"},
        {"colour": "red"},
    ],
)
def test_bad_list_input_is_422(client: TestClient, params: dict[str, object]) -> None:
    r = client.get("/api/alerts", params=params)
    assert r.status_code == 422, r.text


def test_detail_and_missing(client: TestClient) -> None:
    a = client.get("/api/alerts/a-wh-0").json()
    assert a["rule"] == "person_down" and a["snapshot_path"] == "snapshots/cam-2/a-wh-0.jpg"
    assert client.get("/api/alerts/nope").status_code == 404


def test_review_needs_bearer_token(client: TestClient) -> None:
    body = {"action": "dismissed", "reason": "forklift driver, not a person"}
    assert client.post("/api/alerts/a-wh-0/review", json=body).status_code == 401
    wrong = client.post("/api/alerts/a-wh-0/review", json=body, headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401
    assert client.get("/api/alerts/a-wh-0").json()["review"] == "none"
    ok = client.post("/api/alerts/a-wh-0/review", json=body, headers=AUTH)
    assert ok.status_code == 200 and ok.json()["review"] == "dismissed"
    stored = client.get("/api/alerts/a-wh-0").json()
    assert stored["review"] == "dismissed" and stored["review_reason"] == body["reason"]
    ack = client.post("/api/alerts/a-press-5/review", json={"action": "acknowledged"}, headers=AUTH)
    assert ack.json()["review"] == "acknowledged"


@pytest.mark.parametrize(
    "body",
    [
        {"action": "dismissed"},  # dismissal needs a reason
        {"action": "dismissed", "reason": "   "},
        {"action": "deleted", "reason": "x"},
        {"action": "acknowledged", "reason": "x" * 2001},
        {"action": "acknowledged", "extra": 1},
    ],
)
def test_bad_review_is_422_and_changes_nothing(client: TestClient, body: dict[str, object]) -> None:
    r = client.post("/api/alerts/a-wh-0/review", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert client.get("/api/alerts/a-wh-0").json()["review"] == "none"


def test_review_of_unknown_alert_is_404(client: TestClient) -> None:
    assert (
        client.post("/api/alerts/nope/review", json={"action": "acknowledged"}, headers=AUTH).status_code
        == 404
    )


def test_read_only_refuses_mutations(ro_client: TestClient) -> None:
    assert ro_client.get("/api/alerts").json()["total"] == 7
    r = ro_client.post("/api/alerts/a-wh-0/review", json={"action": "acknowledged"}, headers=AUTH)
    assert r.status_code == 403
    assert ro_client.post("/alerts/a-wh-0/review", data={"action": "acknowledged"}).status_code == 403
    assert ro_client.post("/login", data={"token": TOKEN}).status_code == 403
    assert ro_client.get("/api/alerts/a-wh-0").json()["review"] == "none"


def test_zones_risk_fatigue_reports(client: TestClient, media: Path) -> None:
    zones = client.get("/api/zones").json()
    assert [z["id"] for z in zones] == ["warehouse", "press-shop", "paint-line"]
    risk = client.get("/api/zones/warehouse/risk", params={"limit": 1}).json()
    assert risk["total"] == 2 and risk["items"][0]["score"] == 78.5
    assert client.get("/api/zones/nowhere/risk").status_code == 404
    assert client.get("/api/fatigue", params={"days": 0}).status_code == 422
    assert client.get("/api/reports").json() == []
    (media / "reports" / "week-10").mkdir(parents=True)
    (media / "reports" / "week-10" / "report.html").write_text("<html></html>")
    reports = client.get("/api/reports").json()
    assert reports[0]["files"] == {"report.html": "/media/reports/week-10/report.html"}
    assert client.get(reports[0]["files"]["report.html"]).text == "<html></html>"
    assert "/api/alerts" in client.get("/openapi.json").json()["paths"]


def test_a_zones_latest_assessment_is_its_latest_period_and_an_empty_one_is_unranked(
    migrated_db: sessionmaker[Session], media: Path
) -> None:
    # A trial: a September run, then an exploratory run of an empty January 2023, then September again (its rows
    # updated in place, so the 2023 rows had the higher ids): every zone showed "low 0" from 2023.
    from floorwatch.schemas.llm import ScoreBreakdown
    from tests.review_factories import assessment, zone

    sep, jan = datetime(2024, 9, 1, tzinfo=UTC), datetime(2023, 1, 1, tzinfo=UTC)
    with session_scope(migrated_db) as s:
        zone(s, "oven", "Oven line")
        s.flush()
        assessment(s, "oven", sep, sep + timedelta(days=30), 73.0, "high", [("incident", "1")],
                   score_breakdown=ScoreBreakdown(items=2, rate=0.5))
        assessment(s, "oven", jan, jan + timedelta(days=31), 0.0, "low", score_breakdown=ScoreBreakdown(items=0, rate=0.0))
        dismissed = jan + timedelta(days=31)  # only dismissed alerts: evidence scored 0, "low 0" as in the report
        assessment(s, "oven", dismissed, dismissed + timedelta(days=28), 0.0, "low", [("alert", "a-1")])
    with TestClient(create_app(_settings(media), sessions=migrated_db)) as c:
        [oven] = c.get("/api/zones").json()
        assert (oven["latest"]["period_start"][:7], oven["latest"]["level"], oven["latest"]["score"]) == ("2024-09", "high", 73.0)
        items = c.get("/api/zones/oven/risk").json()["items"]
        assert [(i["period_start"][:7], i["level"], i["has_evidence"]) for i in items] == [
            ("2024-09", "high", True), ("2023-02", "low", True), ("2023-01", None, False)]
        page = c.get("/zones/oven").text
        assert "no evidence" in page and "Evidence of the latest assessment's period, 2024-09-01 00:00" in page
    from floorwatch.config import SiteConfig

    toronto = _settings(media).model_copy(update={"site": SiteConfig(timezone="America/Toronto")})
    with TestClient(create_app(toronto, sessions=migrated_db)) as c:  # periods in site time, as in the report
        assert "2024-08-31 20:00 - 2024-09-30 20:00 (site time, America/Toronto)" in c.get("/zones/oven").text
        assert "2024-08-31 - 2024-09-30" in c.get("/zones").text


def test_media_served_only_from_media_dir(client: TestClient, media: Path, tmp_path: Path) -> None:
    ok = client.get("/media/snapshots/cam-2/a-wh-0.jpg")
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
    assert ok.content == (media / "snapshots/cam-2/a-wh-0.jpg").read_bytes()
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    os.symlink(secret, media / "link.txt")
    os.symlink(tmp_path, media / "outdir")
    for path in [
        "/media/../secret.txt",
        "/media/%2e%2e/secret.txt",
        "/media/%2e%2e%2fsecret.txt",
        "/media/snapshots/%2E%2E/%2E%2E/secret.txt",
        "/media//etc/passwd",
        "/media/%2Fetc%2Fpasswd",
        "/media/link.txt",
        "/media/outdir/secret.txt",
        "/media/snapshots\\..\\..\\secret.txt",
        "/media/nothing-here.jpg",
    ]:
        r = client.get(path)
        assert r.status_code in (400, 404), (path, r.status_code)
        assert "do not serve" not in r.text and "root:" not in r.text
