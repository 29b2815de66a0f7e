"""Storage on both databases (SQLite file and a real PostgreSQL): migrations, upserts, registry, queries, reviews."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from floorwatch.app import open_database
from floorwatch.cli.main import app as cli_app
from floorwatch.config import CameraConfig, CameraZoneConfig, Settings, ZoneConfig
from floorwatch.schemas.filters import AlertFilter
from floorwatch.schemas.tables import (
    Alert,
    Camera,
    CameraOutage,
    IncidentExtraction,
    IncidentReport,
    SensorAnomaly,
    Zone,
)
from floorwatch.storage.db import SchemaOutdatedError, make_engine, session_scope
from floorwatch.storage.migrate import current_revision, ensure_current, head_revision, upgrade
from floorwatch.storage.queries import (
    AlertNotFoundError,
    count_alerts,
    dismissal_rates,
    list_alerts,
    review_alert,
    zone_evidence,
    zones_with_activity,
)
from floorwatch.storage.registry import camera_zone_map, ensure_cameras, ensure_zones, redact_url, sync_site
from floorwatch.storage.upsert import upsert
from tests.fixtures_postgres import find_pg_bin

T0 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)  # window start
T1 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # window end


def at(hh: int, mm: int = 0) -> datetime:
    return datetime(2024, 3, 1, hh, mm, tzinfo=UTC)


def alert_row(aid: str, zone: str, start: datetime, end: datetime | None, **kw: Any) -> dict[str, Any]:
    row = {
        "id": aid,
        "rule": "restricted_zone_intrusion",
        "severity": "high",
        "zone_id": zone,
        "camera_id": "cam1",
        "status": "closed" if end else "open",
        "started_at": start,
        "last_seen_at": end or start + timedelta(minutes=5),
        "ended_at": end,
    }
    return row | kw


def add_alerts(session: Session, rows: list[dict[str, Any]]) -> None:
    ensure_zones(session, {r["zone_id"] for r in rows})
    ensure_cameras(session, {r["camera_id"] for r in rows})
    upsert(session, Alert, rows, key=["id"], update=["status", "ended_at", "last_seen_at"])


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


# --------------------------------------------------------------------------- migrations
def test_upgrade_from_empty_reaches_head_and_is_repeatable(engine: Engine) -> None:
    assert current_revision(engine) is None
    head = head_revision(engine)
    assert head
    assert upgrade(engine) == head
    ensure_current(engine)  # does not raise
    tables = set(inspect(engine).get_table_names())
    assert {"zones", "cameras", "alerts", "camera_outages", "incident_reports", "risk_assessments"} <= tables
    assert upgrade(engine) == head  # second run is a no-op


def test_ensure_current_refuses_empty_database(engine: Engine) -> None:
    with pytest.raises(SchemaOutdatedError, match=r"empty \(no tables\).*floorwatch db upgrade"):
        ensure_current(engine)


def test_ensure_current_refuses_outdated_database(engine: Engine, db_url: str) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000old'"))
    with pytest.raises(SchemaOutdatedError, match=r"at revision 0000old.*floorwatch db upgrade"):
        ensure_current(engine)
    settings = Settings(database={"url": db_url})
    with pytest.raises(SchemaOutdatedError):
        open_database(settings)
    factory = open_database(settings, check=False)  # explicit opt-out still opens it
    with factory() as s:
        assert count(s, Zone) == 0
        s.get_bind().dispose()  # type: ignore[union-attr]


def test_db_cli_upgrade_and_current(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOORWATCH_DATABASE__URL", db_url)
    monkeypatch.delenv("FLOORWATCH_CONFIG", raising=False)
    runner = CliRunner()
    before = runner.invoke(cli_app, ["db", "current"])
    assert before.exit_code == 3, before.output
    assert "empty" in before.output
    up = runner.invoke(cli_app, ["db", "upgrade"])
    assert up.exit_code == 0, up.output
    assert "upgraded from empty" in up.output
    again = runner.invoke(cli_app, ["db", "upgrade"])
    assert again.exit_code == 0 and "already at revision" in again.output
    after = runner.invoke(cli_app, ["db", "current"])
    assert after.exit_code == 0, after.output


# --------------------------------------------------------------------------- upsert + registry
def test_upsert_is_idempotent_and_applies_update_columns(migrated_db: sessionmaker[Session]) -> None:
    rows = [alert_row(f"a{i}", "press", at(10, i), None) for i in range(3)]
    with session_scope(migrated_db) as s:
        add_alerts(s, rows)
        add_alerts(s, rows)
    with session_scope(migrated_db) as s:
        assert count(s, Alert) == 3
        closed = [r | {"status": "closed", "ended_at": at(11), "severity": "low"} for r in rows[:1]]
        add_alerts(s, closed)
    with migrated_db() as s:
        a0 = s.get(Alert, "a0")
        assert a0 is not None
        assert (a0.status, a0.ended_at) == ("closed", at(11))
        assert a0.severity == "high"  # not in the update list: first write wins
        assert count(s, Alert) == 3


def test_sync_site_strips_credentials_and_keeps_placeholders(migrated_db: sessionmaker[Session]) -> None:
    settings = Settings(
        zones=[ZoneConfig(id="press", name="Press line", description="presses")],
        cameras=[
            CameraConfig(
                id="cam1",
                source="rtsp://admin:s3cret@10.0.0.5:554/live?token=abc&ch=1",
                zones=[CameraZoneConfig(zone_id="press")],
            )
        ],
    )
    with session_scope(migrated_db) as s:
        ensure_zones(s, ["press", "dock"])  # placeholders first, e.g. from an early event
        sync_site(s, settings)
        sync_site(s, settings)
    with migrated_db() as s:
        assert count(s, Zone) == 2 and count(s, Camera) == 1
        press, dock, cam = s.get(Zone, "press"), s.get(Zone, "dock"), s.get(Camera, "cam1")
        assert press is not None and (press.name, press.description) == ("Press line", "presses")
        assert dock is not None and dock.name == "dock"
        assert cam is not None and cam.source == "rtsp://10.0.0.5:554/live?ch=1"
    assert camera_zone_map(settings) == {"cam1": ["press"]}


@pytest.mark.parametrize(
    ("url", "mask", "expected"),
    [
        ("rtsp://u:p@host/x", None, "rtsp://host/x"),
        ("rtsp://u:p@host/x", "***", "rtsp://u:***@host/x"),
        ("http://host/mjpg?user=a&password=b", None, "http://host/mjpg?user=a"),
        ("videos/cam 1.mp4", None, "videos/cam 1.mp4"),
        ("0", None, "0"),
    ],
)
def test_redact_url(url: str, mask: str | None, expected: str) -> None:
    assert redact_url(url, mask) == expected


# --------------------------------------------------------------------------- zone evidence
def _seed_two_zones(s: Session) -> None:
    add_alerts(
        s,
        [
            alert_row("in", "press", at(10, 30), at(10, 35), rule="person_down", severity="critical"),
            alert_row("before", "press", at(9), at(9, 30)),
            alert_row("after", "press", at(12, 30), at(12, 40)),
            alert_row("overlap-start", "press", at(9, 50), at(10, 5)),
            alert_row("open", "press", at(11, 50), None, last_seen_at=at(11, 55)),
            alert_row("stale-open", "press", at(8), None, last_seen_at=at(8, 10)),
            alert_row("edge", "press", T1, T1 + timedelta(minutes=1), rule="dwell", severity="medium"),
            alert_row("dock-in", "dock", at(10, 30), at(10, 31), camera_id="cam2"),
        ],
    )
    reports = [
        ("r-in", "press", at(11)),
        ("r-edge", "press", T0),
        ("r-late", "press", at(13)),
        ("r-dock", "dock", at(11)),
        ("r-undated", "press", None),
    ]
    upsert(
        s,
        IncidentReport,
        [
            {
                "source": "t.csv",
                "source_id": sid,
                "content_hash": sid,
                "occurred_at": when,
                "zone_id": zone,
                "original_text": f"Worker Ann Smith {sid}",
                "redacted_text": f"Worker [NAME] {sid}",
            }
            for sid, zone, when in reports
        ],
        key=["source", "source_id"],
    )
    rid = s.scalar(select(IncidentReport.id).where(IncidentReport.source_id == "r-in"))
    for n, (status, category, created) in enumerate(
        [("ok", "fall", at(13)), ("ok", "pressed", at(14)), ("failed", None, at(15))]
    ):
        s.add(
            IncidentExtraction(
                incident_id=rid,
                prompt_version=f"v{n}",
                model="m",
                input_hash="h",
                status=status,
                hazard_category=category,
                severity=3 if category else None,
                injury=True,
                causes=["guard missing"] if status == "ok" else [],
                created_at=created,
            )
        )
    s.add_all(
        [
            SensorAnomaly(
                id="an-in", zone_id="press", asset="pump", started_at=at(11), ended_at=at(11, 10), score=4.0
            ),
            SensorAnomaly(
                id="an-out", zone_id="press", asset="pump", started_at=at(8), ended_at=at(9), score=4.0
            ),
            SensorAnomaly(
                id="an-dock", zone_id="dock", asset="fan", started_at=at(11), ended_at=at(11, 5), score=2.0
            ),
            CameraOutage(
                id="o-in", camera_id="cam1", started_at=at(11), ended_at=at(11, 20), reason="timeout"
            ),
            CameraOutage(
                id="o-old", camera_id="cam1", started_at=at(7), ended_at=at(7, 30), reason="timeout"
            ),
            CameraOutage(
                id="o-ongoing", camera_id="cam1", started_at=at(11, 40), ended_at=None, reason="eof"
            ),
            CameraOutage(
                id="o-cam2", camera_id="cam2", started_at=at(11), ended_at=at(11, 5), reason="timeout"
            ),
        ]
    )


def test_zone_evidence_returns_only_that_zone_inside_the_window(migrated_db: sessionmaker[Session]) -> None:
    with session_scope(migrated_db) as s:
        _seed_two_zones(s)
    with session_scope(migrated_db) as s:
        review_alert(s, "in", "dismissed", "shadow on the floor")
    with migrated_db() as s:
        ev = zone_evidence(s, "press", T0, T1)
    assert [a.id for a in ev.alerts] == ["overlap-start", "in", "open", "edge"]
    assert [i.source_id for i in ev.incidents] == ["r-edge", "r-in"]
    assert [a.id for a in ev.anomalies] == ["an-in"]
    assert [o.id for o in ev.outages] == ["o-in", "o-ongoing"]  # cam2 never alerted in press
    assert ev.alerts_by_rule == {"dwell": 1, "person_down": 1, "restricted_zone_intrusion": 2}
    assert ev.alerts_by_severity == {"critical": 1, "high": 2, "medium": 1}
    assert ev.dismissed_share == pytest.approx(0.25)
    edge, inside = ev.incidents
    assert not edge.extracted and edge.hazard_category is None
    # latest *successful* extraction: v1 (the failed v2 is newer but ignored)
    assert (inside.prompt_version, inside.hazard_category, inside.causes) == (
        "v1",
        "pressed",
        ["guard missing"],
    )
    assert "Ann Smith" not in inside.redacted_text


def test_zone_evidence_outages_follow_given_camera_mapping(migrated_db: sessionmaker[Session]) -> None:
    with session_scope(migrated_db) as s:
        _seed_two_zones(s)
    with migrated_db() as s:
        ev = zone_evidence(s, "press", T0, T1, camera_zones={"cam2": ["press", "dock"], "cam1": ["dock"]})
        assert [o.id for o in ev.outages] == ["o-cam2"]
        assert zone_evidence(s, "press", T0, T1, camera_zones={}).outages == []
        empty = zone_evidence(s, "nowhere", T0, T1)
        assert empty.is_empty and empty.dismissed_share is None
        assert zones_with_activity(s, T0, T1) == ["dock", "press"]
        assert zones_with_activity(s, at(14), at(15)) == []
        with pytest.raises(ValueError, match="after end"):
            zone_evidence(s, "press", T1, T0)
        with pytest.raises(ValueError, match="naive"):
            zone_evidence(s, "press", T0.replace(tzinfo=None), T1)


def test_zone_evidence_uses_a_fixed_number_of_statements(migrated_db: sessionmaker[Session]) -> None:
    with session_scope(migrated_db) as s:
        _seed_two_zones(s)
        extra = [
            {
                "source": "bulk.csv",
                "source_id": str(i),
                "content_hash": str(i),
                "occurred_at": at(11, i % 60),
                "zone_id": "press",
                "original_text": "x",
                "redacted_text": "x",
            }
            for i in range(60)
        ]
        upsert(s, IncidentReport, extra, key=["source", "source_id"])
    statements: list[str] = []
    with migrated_db() as s:
        bind = s.get_bind()
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(bind, "before_cursor_execute", listener)
        try:
            ev = zone_evidence(s, "press", T0, T1)
        finally:
            event.remove(bind, "before_cursor_execute", listener)
    assert len(ev.incidents) == 62
    assert len(statements) <= 6, statements


# --------------------------------------------------------------------------- dashboard queries + review
def test_list_alerts_filters_and_pages(migrated_db: sessionmaker[Session]) -> None:
    with session_scope(migrated_db) as s:
        _seed_two_zones(s)
    with migrated_db() as s:
        assert count_alerts(s) == 8
        assert [a.id for a in list_alerts(s, AlertFilter(zone="press", start=T0, end=T1))] == [
            "edge",
            "open",
            "in",
            "overlap-start",
        ]
        assert [a.id for a in list_alerts(s, AlertFilter(camera="cam2"))] == ["dock-in"]
        assert [a.id for a in list_alerts(s, AlertFilter(status="open"))] == ["open", "stale-open"]
        assert [a.id for a in list_alerts(s, AlertFilter(rule="dwell"))] == ["edge"]
        page1 = list_alerts(s, limit=3)
        page2 = list_alerts(s, limit=3, offset=3)
        assert len(page1) == 3 and not {a.id for a in page1} & {a.id for a in page2}
        assert count_alerts(s, AlertFilter(zone="press", review="none")) == 7
        with pytest.raises(ValueError, match="status"):
            AlertFilter(status="closing")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="is after end"):
            AlertFilter(start=T1, end=T0)
        with pytest.raises(ValueError, match="limit"):
            list_alerts(s, limit=0)


def test_review_alert_and_dismissal_rates(migrated_db: sessionmaker[Session]) -> None:
    with session_scope(migrated_db) as s:
        _seed_two_zones(s)
    with session_scope(migrated_db) as s:
        ack = review_alert(s, "overlap-start", "acknowledged")
        assert ack.review == "acknowledged" and ack.reviewed_at is not None and ack.review_reason is None
        review_alert(s, "open", "dismissed", "  reflection  ")
    with session_scope(migrated_db) as s:
        with pytest.raises(AlertNotFoundError, match="no-such"):
            review_alert(s, "no-such", "dismissed")
        with pytest.raises(ValueError, match="review action"):
            review_alert(s, "in", "deleted")  # type: ignore[arg-type]
    with migrated_db() as s:
        opened = s.get(Alert, "open")
        assert opened is not None and (opened.review, opened.review_reason) == ("dismissed", "reflection")
        assert [a.id for a in list_alerts(s, AlertFilter(review="dismissed"))] == ["open"]
        rates = {(r.zone_id, r.rule): r for r in dismissal_rates(s, T0, T1)}
    intrusion = rates[("press", "restricted_zone_intrusion")]
    assert (intrusion.total, intrusion.acknowledged, intrusion.dismissed) == (2, 1, 1)
    assert intrusion.rate == pytest.approx(0.5)
    assert rates[("dock", "restricted_zone_intrusion")].rate == 0.0
    assert set(rates) == {
        ("press", "restricted_zone_intrusion"),
        ("press", "person_down"),
        ("press", "dwell"),
        ("dock", "restricted_zone_intrusion"),
    }


def test_find_pg_bin_picks_the_newest_version(tmp_path: Path) -> None:
    for version in ("9.6", "15", "16", "17-broken"):
        bin_dir = tmp_path / version / "bin"
        bin_dir.mkdir(parents=True)
        if version != "17-broken":  # no initdb there: not a usable install
            (bin_dir / "initdb").touch()
            (bin_dir / "pg_ctl").touch()
    assert find_pg_bin(tmp_path) == tmp_path / "16" / "bin"
    assert find_pg_bin(tmp_path / "absent") is None


def test_the_migrations_build_the_schema_the_models_declare(migrated_db: sessionmaker[Session]) -> None:
    """A column added to ``schemas.tables`` without its migration (or the other way round) shows here, on SQLite
    and PostgreSQL alike, not in a user's database."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from floorwatch.schemas.tables import Base

    engine = migrated_db.kw["bind"]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
