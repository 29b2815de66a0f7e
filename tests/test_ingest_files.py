"""``floorwatch ingest`` end to end on files as sites export them, through the real CLI.

Report files: Windows-1252 with ``;`` and day-first dates, UTF-8 with a BOM and month-first dates,
ambiguous dates, a file whose rows are all rejected, ``--dry-run``; the embedded SQLite database is
created on first use while PostgreSQL still asks for ``floorwatch db upgrade``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from floorwatch.cli.main import app
from floorwatch.schemas.tables import IncidentReport, Zone

PT = [
    ("1", "Queda de operário na área de prensagem; perna lesionada", "17/01/2017 08:00", "Prensas"),
    ("2", "Corte na mão durante manutenção da máquina", "03/02/2017 09:30", "Manutenção"),
    ("3", "Exposição a calor excessivo próximo ao forno", "02/02/2017 14:15", "Fundição"),
]
PT_FLAGS = ["--text-column", "descrição", "--time-column", "data", "--zone-column", "local", "--id-column", "id"]


def _pt_file(tmp_path: Path, rows: list[tuple[str, ...]] = PT, name: str = "incidentes.csv") -> Path:
    body = "id;descrição;data;local\r\n" + "".join(
        ";".join(f'"{v}"' if ";" in v else v for v in r) + "\r\n" for r in rows
    )
    p = tmp_path / name
    p.write_bytes(body.encode("cp1252"))
    return p


def _stored(url: str) -> list[IncidentReport]:
    engine = create_engine(url)
    try:
        if "incident_reports" not in inspect(engine).get_table_names():
            return []
        with Session(engine) as s:
            return list(s.scalars(select(IncidentReport).order_by(IncidentReport.source_id)))
    finally:
        engine.dispose()


def test_cp1252_semicolon_day_first_file_on_a_fresh_sqlite(fresh_sqlite_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", "reports", str(_pt_file(tmp_path)), *PT_FLAGS])
    assert result.exit_code == 0, result.output
    assert "3 new, 0 updated, 0 unchanged, 0 rejected" in result.output
    assert "encoding cp1252" in result.output and "separator ';'" in result.output
    assert "time column 'data': %d/%m/%Y %H:%M (inferred)" in result.output  # the time of day is read, and said so
    reports = _stored(fresh_sqlite_url)
    assert [r.occurred_at.replace(tzinfo=UTC) for r in reports] == [
        datetime(2017, 1, 17, 8, 0, tzinfo=UTC), datetime(2017, 2, 3, 9, 30, tzinfo=UTC), datetime(2017, 2, 2, 14, 15, tzinfo=UTC),
    ]
    assert reports[0].original_text == PT[0][1] and reports[1].original_text == PT[1][1]


def test_utf8_bom_comma_month_first_file(fresh_sqlite_url: str, tmp_path: Path) -> None:
    p = tmp_path / "us.csv"
    p.write_text('\ufeffid,text,occurred_at\n1,"Forklift near miss, dock 3",01/13/2024 07:05\n2,Slip,02/01/2024 16:40\n',
                 encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "reports", str(p)])
    assert result.exit_code == 0, result.output
    assert "%m/%d/%Y %H:%M (inferred)" in result.output and "encoding utf-8-sig" in result.output
    when = {r.source_id: r.occurred_at.replace(tzinfo=UTC) for r in _stored(fresh_sqlite_url)}
    assert when == {"1": datetime(2024, 1, 13, 7, 5, tzinfo=UTC), "2": datetime(2024, 2, 1, 16, 40, tzinfo=UTC)}


def test_ambiguous_dates_are_refused_with_examples_and_nothing_stored(fresh_sqlite_url: str, tmp_path: Path) -> None:
    rows = [("1", "Queda", "01/02/2017 08:00", "A"), ("2", "Corte", "03/04/2017 09:00", "B")]
    result = CliRunner().invoke(app, ["ingest", "reports", str(_pt_file(tmp_path, rows)), *PT_FLAGS])
    assert result.exit_code == 1
    assert "ambiguous dates" in result.output and "'01/02/2017 08:00'" in result.output
    assert _stored(fresh_sqlite_url) == []
    given = CliRunner().invoke(app, ["ingest", "reports", str(_pt_file(tmp_path, rows)), *PT_FLAGS, "--time-format", "%m/%d/%Y"])
    assert given.exit_code == 0, given.output
    assert _stored(fresh_sqlite_url)[0].occurred_at.replace(tzinfo=UTC) == datetime(2017, 1, 2, 8, 0, tzinfo=UTC)


def test_all_rows_rejected_exits_non_zero_and_writes_nothing(fresh_sqlite_url: str, tmp_path: Path) -> None:
    rows = [("1", "", "17/01/2017 08:00", "Prensas"), ("2", " ", "18/01/2017 08:00", "Forno")]
    result = CliRunner().invoke(app, ["ingest", "reports", str(_pt_file(tmp_path, rows)), *PT_FLAGS])
    assert result.exit_code == 1
    assert "no report can be stored, nothing written (2 rejected: row 1: empty text" in result.output
    engine = create_engine(fresh_sqlite_url)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(IncidentReport)) == 0
        assert s.scalar(select(func.count()).select_from(Zone)) == 0  # no zone of the refused file either
    engine.dispose()


def test_dry_run_shows_stored_and_rejected_rows_and_writes_nothing(fresh_sqlite_url: str, tmp_path: Path) -> None:
    rows = [*PT, ("4", "Batida", "31/13/2017 10:00", "Prensas")]
    result = CliRunner().invoke(app, ["ingest", "reports", str(_pt_file(tmp_path, rows)), *PT_FLAGS, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run, nothing written" in result.output and "3 report(s) would be stored, 1 rejected" in result.output
    assert "row 1: id '1', 2017-01-17 08:00 (UTC)" in result.output  # site time, as it would be stored
    assert "rejected row 4: time '31/13/2017 10:00' does not match %d/%m/%Y" in result.output
    assert not (Path(fresh_sqlite_url.removeprefix("sqlite:///"))).exists()
    empty = [("1", "", "17/01/2017 08:00", "A")]
    refused = CliRunner().invoke(app, ["ingest", "reports", str(_pt_file(tmp_path, empty, "e.csv")), *PT_FLAGS, "--dry-run"])
    assert refused.exit_code == 1 and "would be refused, nothing stored" in refused.output


def test_postgresql_still_needs_db_upgrade(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOORWATCH_DATABASE__URL", db_url)
    monkeypatch.delenv("FLOORWATCH_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["ingest", "reports", str(_pt_file(tmp_path)), *PT_FLAGS])
    if db_url.startswith("sqlite"):
        assert result.exit_code == 0, result.output  # embedded: created and migrated on first use
    else:
        assert result.exit_code == 4
        assert "is empty (no tables)" in result.output and "run `floorwatch db upgrade`" in result.output
        assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
        again = CliRunner().invoke(app, ["ingest", "reports", str(_pt_file(tmp_path)), *PT_FLAGS])
        assert again.exit_code == 0, again.output


def test_reports_without_time_or_zone_are_stored_with_a_warning(fresh_sqlite_url: str, tmp_path: Path) -> None:
    p = tmp_path / "log.csv"
    p.write_text("id,text,occurred_at,zone\n1,Cut,2024-01-01,Press Line\n2,Burn,,Boiler Room\n"
                 "3,Slip,2024-01-02,\n4,Trip,,Boiler Room\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "reports", str(p)])
    assert result.exit_code == 0, result.output
    assert "log.csv: 4 new, 0 updated, 0 unchanged, 0 rejected" in result.stdout
    assert ("warning: log.csv: 2 of 4 reports have no time (occurred_at): the risk job cannot place them in a period"
            in result.stderr)
    assert "warning: log.csv: 1 of 4 reports has no zone: the risk job cannot place it in a zone" in result.stderr
    assert "warning" not in result.stdout
    assert "not in the configuration" not in result.stderr  # the built-in configuration lists no zones
    assert len(_stored(fresh_sqlite_url)) == 4


def test_a_zone_missing_from_the_configuration_is_stored_with_a_warning(fresh_sqlite_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("zones:\n  - id: boiler_room\n  - id: press_line\n", encoding="utf-8")
    typo = tmp_path / "burn.md"
    typo.write_text("---\noccurred_at: 2024-03-19 10:00\nzone: Boiler Rom\n---\nSteam burn at the drain valve.\n")
    known = tmp_path / "hand.md"
    known.write_text("---\noccurred_at: 2024-03-11 06:40\nzone: Press Line\n---\nFinger caught in the die.\n")
    result = CliRunner().invoke(app, ["ingest", "reports", str(typo), str(known), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert ("warning: burn.md: zone 'boiler_rom' is not in the configuration (known zones: boiler_room, press_line); "
            "the report was stored under it (did you mean 'boiler_room'?)") in result.stderr
    assert "'press_line' is not" not in result.stderr and "no time" not in result.stderr and "no zone" not in result.stderr
    assert sorted(r.zone_id for r in _stored(fresh_sqlite_url)) == ["boiler_rom", "press_line"]
    dry = CliRunner().invoke(app, ["ingest", "reports", str(typo), "--dry-run", "--config", str(cfg)])
    assert dry.exit_code == 0 and "warning: burn.md: zone 'boiler_rom' is not in the configuration" in dry.stderr  # the same, before
    # ... in the future tense: a dry run stores nothing (a trial read "dry run, nothing written", then "was stored")
    assert "the report would be stored under it (did you mean 'boiler_room'?)" in dry.stderr and " was stored" not in dry.stderr


def test_a_zone_given_by_its_configured_name_is_stored_under_its_id(fresh_sqlite_url: str, tmp_path: Path) -> None:
    # A new-user trial: an EHS export named the zone "Cold Store & Ammonia Plant" (its configured name), a Markdown
    # report gave its id; the two were stored as two zones and the report showed two cards for one place.
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("zones:\n  - id: cold_store\n    name: Cold Store & Ammonia Plant\n"
                   "  - id: line_a\n    name: Packing\n  - id: line_b\n    name: Packing\n"
                   "  - id: mixing_room\n    name: Mixing Room\n", encoding="utf-8")
    p = tmp_path / "export.csv"
    p.write_text("id,text,occurred_at,zone\n1,Forklift near miss,2024-09-17,Cold Store & Ammonia Plant\n"
                 "2,Ammonia odour,2024-09-19,cold_store\n3,Cut,2024-09-20,Packing\n4,Slip,2024-09-21,mixing room\n",
                 encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "reports", str(p), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    stored = {r.source_id: r.zone_id for r in _stored(fresh_sqlite_url)}
    # a name two zones share says no zone: slugified as before, and warned about
    assert stored == {"1": "cold_store", "2": "cold_store", "3": "packing", "4": "mixing_room"}
    assert "zone 'packing' is not in the configuration" in result.stderr and "cold_store_ammonia_plant" not in result.stderr


def test_a_dry_run_gives_the_warnings_a_real_run_would(fresh_sqlite_url: str, tmp_path: Path) -> None:
    p = tmp_path / "log.csv"
    p.write_text("id,text,occurred_at,zone\n1,Cut,2024-01-01,Press Line\n2,Burn,,\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "reports", str(p), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "warning: log.csv: 1 of 2 reports has no time (occurred_at)" in result.stderr and "1 of 2 reports has no zone" in result.stderr
    assert "dry run, nothing written" in result.stdout


def test_personal_data_in_other_columns_is_redacted_too(fresh_sqlite_url: str, tmp_path: Path) -> None:
    # A trial's EHS export: "Reported By" and "Contact" columns were stored verbatim in the attributes.
    p = tmp_path / "ehs.csv"
    p.write_text("id,text,occurred_at,Reported By,Contact,Witness,Event Type,Employee Name,Name of area\n"
                 "1,Forklift near miss at the dock,2024-09-17,Supervisor Jean-François Tremblay (450-555-0142),"
                 "m.gagnon@bil-laval.ca,Marc Gagnon,Near Miss,Ana Souza,Packaging\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "reports", str(p)])
    assert result.exit_code == 0, result.output
    [row] = _stored(fresh_sqlite_url)
    assert row.attributes == {"Reported By": "Supervisor [NAME] ([PHONE])", "Contact": "[EMAIL]", "Witness": "[NAME]",
                              "Event Type": "Near Miss", "Employee Name": "[NAME]", "Name of area": "Packaging"}


def test_dry_run_shows_site_time_and_a_date_alone_as_such(fresh_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A trial: a date-only '15/07/2026' at a Lisbon site was previewed as '2026-07-14T23:00:00+00:00' - the day before."""
    cfg = tmp_path / "site.yaml"
    cfg.write_text(f"site:\n  timezone: Europe/Lisbon\ndatabase:\n  url: {fresh_sqlite_url}\n", encoding="utf-8")
    rows = [("1", "Queda da escada", "15/07/2026", "Armazém"), ("2", "Corte na mão", "16/07/2026", "Armazém")]
    result = CliRunner().invoke(app, ["ingest", "reports", str(_pt_file(tmp_path, rows)), *PT_FLAGS, "--dry-run",
                                      "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "row 1: id '1', 2026-07-15, no time of day" in result.output and "T23:00" not in result.output
