"""Applying a fatigue suggestion to the real configuration file through the dashboard API: validated with
the start-up loader, backed up, written atomically, recorded; refused changes leave the file as it was.
The database is real (SQLite and PostgreSQL through ``migrated_db``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import load_settings
from floorwatch.review.app import create_app
from floorwatch.review.config_write import ConfigChangeError, apply_config_change, set_rule_parameter
from floorwatch.schemas.tables import ConfigChange
from floorwatch.storage.db import session_scope
from tests.review_factories import alert, camera, zone

TOKEN = "config-write-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Footage dated 2024, like `make demo`: a window of "the last 30 days" would be empty.
T0 = datetime(2024, 3, 18, 8, 0, tzinfo=UTC)
CONFIG = """\
# demo site
zones:
  - id: loading_dock
    name: Loading Dock
cameras:
  - id: dock-cam
    source: sample_media/vtest.avi
    zones:
      - zone_id: loading_dock
        polygon: [[560, 290], [768, 265], [768, 470], [600, 440]]
        rules:
          - {type: restricted_zone_intrusion, min_seconds: 0.5, severity: high}
serve:
  token: TOKEN_HERE
""".replace("TOKEN_HERE", TOKEN)


@pytest.fixture
def setup(migrated_db: sessionmaker[Session], tmp_path: Path) -> Iterator[tuple[TestClient, Path, sessionmaker[Session]]]:
    cfg = tmp_path / "floorwatch.yaml"
    cfg.write_text(CONFIG)
    with session_scope(migrated_db) as s:
        zone(s, "loading_dock")
        camera(s, "dock-cam")
        s.flush()
        for i in range(10):
            alert(s, f"a{i}", "loading_dock", "dock-cam", T0 + timedelta(minutes=i), review="dismissed",
                  review_reason="person on the walkway edge")  # fmt: skip
    settings = load_settings(cfg).model_copy(update={"media": load_settings(cfg).media.model_copy(update={"dir": tmp_path})})
    with TestClient(create_app(settings, sessions=migrated_db, config_path=cfg)) as client:
        yield client, cfg, migrated_db


def test_fatigue_defaults_to_the_span_of_the_data(setup: tuple[TestClient, Path, sessionmaker[Session]]) -> None:
    client, _cfg, _db = setup
    out = client.get("/api/fatigue").json()
    assert out["start"].startswith("2024-03-18T08:00")
    [sug] = out["suggestions"]
    assert (sug["zone_id"], sug["parameter"], sug["current"], sug["suggested"]) == (
        "loading_dock", "min_seconds", 0.5, 1.5)
    assert client.get("/api/fatigue", params={"days": 30}).json()["suggestions"] == []  # 2024 is long gone
    assert "raise min_seconds" in client.get("/fatigue").text


def test_apply_suggestion_writes_validated_backed_up_and_recorded(
    setup: tuple[TestClient, Path, sessionmaker[Session]],
) -> None:
    client, cfg, db = setup
    before = cfg.read_text()
    body = {"zone_id": "loading_dock", "rule": "restricted_zone_intrusion", "operator": "Dana"}
    assert client.post("/api/fatigue/apply", json=body).status_code == 401
    r = client.post("/api/fatigue/apply", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    rules = load_settings(cfg).cameras[0].zones[0].rules
    assert rules[0].min_seconds == 1.5 and rules[0].severity == "high"
    assert Path(out["backup_path"]).read_text() == before
    assert "-          - {type: restricted_zone_intrusion, min_seconds: 0.5" in out["diff"]
    assert "min_seconds: 1.5" in out["diff"] and "restart" in out["note"]
    [change] = client.get("/api/config/changes").json()
    assert change["actor"].startswith("Dana (") and change["action"] == "fatigue_suggestion"
    assert change["summary"] == "loading_dock / restricted_zone_intrusion: min_seconds 0.5 -> 1.5 (1 rule(s))"
    # The suggestion is recomputed from the new file: now it proposes the next step, not the same one.
    assert client.get("/api/fatigue").json()["suggestions"][0]["current"] == 1.5
    missing = client.post("/api/fatigue/apply", json={**body, "zone_id": "press_line"}, headers=AUTH)
    assert missing.status_code == 404 and "press_line" in missing.json()["detail"]
    with db() as s:
        assert s.scalar(select(func.count()).select_from(ConfigChange)) == 1


def test_the_fatigue_page_applies_in_one_click(setup: tuple[TestClient, Path, sessionmaker[Session]]) -> None:
    client, cfg, _db = setup
    assert 'action="/fatigue/apply"' not in client.get("/fatigue").text  # not signed in: no button
    client.post("/login", data={"token": TOKEN})
    page = client.get("/fatigue").text
    assert 'action="/fatigue/apply"' in page and "Apply: min_seconds = 1.5" in page
    r = client.post("/fatigue/apply", data={"zone_id": "loading_dock", "rule": "restricted_zone_intrusion"})
    assert r.status_code == 200 and "Applied" in r.text and "min_seconds: 1.5" in r.text
    assert "token holder (testclient)" in client.get("/fatigue").text  # who applied it, listed on the page
    assert load_settings(cfg).cameras[0].zones[0].rules[0].min_seconds == 1.5


def test_read_only_dashboard_cannot_change_the_file(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    cfg = tmp_path / "floorwatch.yaml"
    cfg.write_text(CONFIG.replace(f"serve:\n  token: {TOKEN}\n", ""))
    with TestClient(create_app(load_settings(cfg), read_only=True, sessions=migrated_db, config_path=cfg)) as c:
        r = c.post("/api/fatigue/apply", json={"zone_id": "loading_dock", "rule": "restricted_zone_intrusion"},
                   headers=AUTH)  # fmt: skip
    assert r.status_code == 403
    assert cfg.read_text() == CONFIG.replace(f"serve:\n  token: {TOKEN}\n", "")


def test_an_invalid_result_is_refused_and_nothing_is_written(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    cfg = site / "floorwatch.yaml"
    cfg.write_text(CONFIG)
    with pytest.raises(ConfigChangeError, match=r"min_seconds.*less than or equal to 3600"):
        apply_config_change(cfg, set_rule_parameter("loading_dock", "restricted_zone_intrusion", "min_seconds", 5000.0),
                            migrated_db, "test", "fatigue_suggestion")  # fmt: skip
    with pytest.raises(ConfigChangeError, match="no camera has a dwell rule"):
        apply_config_change(cfg, set_rule_parameter("loading_dock", "dwell", "max_seconds", 90.0), migrated_db,
                            "test", "fatigue_suggestion")  # fmt: skip
    assert cfg.read_text() == CONFIG
    assert sorted(p.name for p in site.iterdir()) == ["floorwatch.yaml"]  # no backup, no temp file left
    with migrated_db() as s:
        assert s.scalar(select(func.count()).select_from(ConfigChange)) == 0
    assert yaml.safe_load(cfg.read_text())["cameras"][0]["zones"][0]["rules"][0]["min_seconds"] == 0.5


def test_zone_api_saves_with_the_bearer_and_refuses_bad_polygons(
    setup: tuple[TestClient, Path, sessionmaker[Session]],
) -> None:
    client, cfg, db = setup
    zone = {"zone_id": "dock_walkway", "polygon": [[10, 10], [200, 10], [200, 120], [10, 120]],
            "rules": [{"type": "crowding", "max_people": 3}]}  # fmt: skip
    assert client.post("/api/config/cameras/dock-cam/zones", json=zone).status_code == 401
    assert client.post("/api/config/cameras/nope/zones", json=zone, headers=AUTH).status_code == 404
    before = cfg.read_text()
    bad = client.post("/api/config/cameras/dock-cam/zones", headers=AUTH,
                      json={**zone, "rules": [{"type": "crowding", "max_people": 0}]})  # fmt: skip
    assert bad.status_code == 422 and "max_people" in bad.json()["detail"]
    crossing = client.post("/api/config/cameras/dock-cam/zones", headers=AUTH,
                           json={**zone, "polygon": [[10, 10], [200, 120], [200, 10], [10, 120]]})  # fmt: skip
    assert crossing.status_code == 422 and "crosses itself" in crossing.json()["detail"]
    assert cfg.read_text() == before
    ok = client.post("/api/config/cameras/dock-cam/zones", json=zone, headers=AUTH)
    assert ok.status_code == 200, ok.text
    saved = load_settings(cfg)
    assert [z.zone_id for z in saved.cameras[0].zones] == ["loading_dock", "dock_walkway"]
    assert saved.cameras[0].zones[1].rules[0].max_people == 3 and saved.zone("dock_walkway") is not None


def test_snapshot_of_a_file_camera_is_its_first_frame(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    from tests.conftest import REPO_ROOT

    cfg = tmp_path / "floorwatch.yaml"
    cfg.write_text(CONFIG.replace("sample_media/vtest.avi", str(REPO_ROOT / "sample_media" / "vtest.avi")))
    with TestClient(create_app(load_settings(cfg), read_only=True, sessions=migrated_db, config_path=cfg)) as c:
        r = c.get("/api/cameras/dock-cam/snapshot.jpg")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
        page = c.get("/zones/editor").text
        assert 'id="save"' not in page and "Read-only" in page and "loading_dock" in page
        zone = {"zone_id": "x", "polygon": [[1, 1], [5, 1], [5, 5]], "rules": []}
        assert c.post("/api/config/cameras/dock-cam/zones", json=zone, headers=AUTH).status_code == 403
