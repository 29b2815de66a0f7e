"""Incident report ingestion: Markdown, JSON Lines, CSV; bad rows, --strict, idempotency, the real CSV."""

from __future__ import annotations

import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from floorwatch.ingest.redact import redact
from floorwatch.ingest.reports import ColumnMapping, IngestError, ingest_file, redacted_title, slugify_zone
from floorwatch.schemas.tables import IncidentReport, Zone
from floorwatch.storage.db import session_scope
from tests.conftest import REPO_ROOT, shared_data

UTC_TZ = ZoneInfo("UTC")
REAL_FLAGS = ["--id-column", "", "--text-column", "Description", "--time-column", "Data",
              "--time-format", "%d-%m-%Y", "--zone-column", "Local"]


def _ingest(factory: sessionmaker[Session], path: Path, mapping: ColumnMapping | None = None, **kw):  # noqa: ANN202
    with session_scope(factory) as s:
        return ingest_file(s, path, mapping or ColumnMapping(), tz=UTC_TZ, max_chars=kw.pop("max_chars", 20_000), **kw)


def _reports(factory: sessionmaker[Session]) -> list[IncidentReport]:
    with session_scope(factory) as s:
        return list(s.scalars(select(IncidentReport).order_by(IncidentReport.source, IncidentReport.source_id)))


def _csv(tmp_path: Path, body: str, name: str = "log.csv") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def test_markdown_front_matter_and_redaction(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    md = tmp_path / "burn.md"
    md.write_text("---\noccurred_at: 2024-03-11 06:40\nzone: Press Line\ntitle: Hand caught\nshift: night\n---\n"
                  "The operator John Smith was pinched at Press Line 2. Call +49 30 1234 5678.\n")
    summary = _ingest(migrated_db, md)
    assert (summary.new, summary.unchanged, summary.rejected) == (1, 0, [])
    (rep,) = _reports(migrated_db)
    assert rep.zone_id == "press_line" and rep.title == "Hand caught" and rep.attributes == {"shift": "night"}
    assert rep.occurred_at is not None and rep.occurred_at.isoformat() == "2024-03-11T06:40:00+00:00"
    assert "John Smith" in rep.original_text
    assert rep.redacted_text == "The operator [NAME] was pinched at Press Line 2. Call [PHONE]."


def test_a_reingest_after_the_redaction_rules_changed_updates_the_rows_they_change(
    migrated_db: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows stored by older rules (here: rules that left other columns verbatim) must not keep a name the current
    # rules remove just because the file did not change; rows whose redaction is the same stay unchanged.
    path = _csv(tmp_path, "id,time,text,Reported By\n1,2024-03-04 08:00,Slipped on oil.,Jean Tremblay 514 555 0199\n"
                          "2,2024-03-04 09:00,Cut on a strap.,\n")
    import floorwatch.ingest.reports as reports

    with monkeypatch.context() as m:
        m.setattr(reports, "redacted_attributes", lambda attributes: dict(attributes))
        assert _ingest(migrated_db, path).new == 2
    assert _reports(migrated_db)[0].attributes["Reported By"] == "Jean Tremblay 514 555 0199"
    again = _ingest(migrated_db, path)
    assert (again.updated, again.unchanged) == (1, 1)
    assert "Tremblay" not in json.dumps(_reports(migrated_db)[0].attributes)
    assert (_ingest(migrated_db, path).updated, _ingest(migrated_db, path).unchanged) == (0, 2)


def test_titles_are_redacted_like_the_text() -> None:
    text = "The electrician Tom Becker reset the overload relay. Becker then left."
    assert redacted_title(text, text) == "The electrician [NAME] reset the overload relay. [NAME] then left."
    # a name the title alone carries, found through the cue in the text
    assert redacted_title("Relay reset by Becker", text) == "Relay reset by [NAME]"
    assert redacted_title("Hand caught", "Pinched at Press Line 2.") == "Hand caught"


def test_jsonl_with_bad_lines(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    lines = [json.dumps({"id": "a1", "text": "Slip near Pump 4", "occurred_at": "2024-01-02T03:04:05Z", "zone": "Pump House",
                         "severity": 2}),
             "{not json", json.dumps({"id": "a2", "text": "  "}), json.dumps({"id": "a3", "text": "Cut", "occurred_at": "soon"})]
    p.write_text("\n".join(lines) + "\n")
    summary = _ingest(migrated_db, p)
    assert summary.new == 1
    assert [r.split(":")[0] for r in summary.rejected] == ["line 2", "line 3", "line 4"]
    (rep,) = _reports(migrated_db)
    assert (rep.source_id, rep.zone_id, rep.attributes) == ("a1", "pump_house", {"zone": "Pump House", "severity": 2})


def test_csv_bad_rows_reported_good_kept_and_twice_is_no_change(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    p = _csv(tmp_path, "no,when,plant,what,level\n1,01-02-2024,Local_01,Fell from ladder,II\n"
                       "2,31-02-2024,Local_01,Bad date,I\n3,03-02-2024,Local_02,,I\n4,04-02-2024,Local_02,Burn,III\n")
    mapping = ColumnMapping(id_column="no", text_column="what", time_column="when", time_format="%d-%m-%Y", zone_column="plant")
    first = _ingest(migrated_db, p, mapping)
    assert first.new == 2 and len(first.rejected) == 2
    assert first.rejected[0].startswith("row 2:") and "31-02-2024" in first.rejected[0]
    assert first.rejected[1].startswith("row 3:") and "empty text" in first.rejected[1]
    second = _ingest(migrated_db, p, mapping)
    assert (second.new, second.updated, second.unchanged) == (0, 0, 2)
    reps = _reports(migrated_db)
    assert [r.source_id for r in reps] == ["1", "4"]
    assert reps[0].attributes == {"plant": "Local_01", "level": "II"}
    with session_scope(migrated_db) as s:
        assert sorted(s.scalars(select(Zone.id))) == ["local_01", "local_02"]
    p.write_text(p.read_text().replace("Fell from ladder", "Fell from step ladder"))
    third = _ingest(migrated_db, p, mapping)
    assert (third.new, third.updated, third.unchanged) == (0, 1, 1)


def test_missing_column_lists_existing_columns(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    p = _csv(tmp_path, "id,body\n1,x\n")
    with pytest.raises(IngestError, match=r"no text column 'Description'.*'id', 'body'"):
        _ingest(migrated_db, p, ColumnMapping(text_column="Description"))
    with pytest.raises(IngestError, match=r"no text column \(set --text-column\).*'id', 'body'"):
        _ingest(migrated_db, p)


def test_missing_column_names_the_encoding_the_file_was_read_with(tmp_path: Path) -> None:
    """A garbled column name ("NḞ Reporte") is only explained by the encoding used; the message names it."""
    from floorwatch.ingest.reports import read_table

    p = tmp_path / "legacy.csv"
    p.write_bytes("No;Fecha;Descripción\n1;14/11/2026;Caída en la rampa\n".encode("cp1252"))
    with pytest.raises(IngestError, match=r"no id column 'N° Reporte'.*'No'.*read as cp1252, detected.*--encoding"):
        read_table(p, ColumnMapping(id_column="N° Reporte", text_column="Descripción"), UTC_TZ)
    with pytest.raises(IngestError, match=r"no id column 'Nr'.*read as latin-1, given"):
        read_table(p, ColumnMapping(id_column="Nr", text_column="Descripción", encoding="latin-1"), UTC_TZ)
    _csv(tmp_path, "id,body\n1,x\n", "u.csv")
    with pytest.raises(IngestError, match=r"no text column.*'body' \(read as utf-8\)$"):
        read_table(tmp_path / "u.csv", ColumnMapping(), UTC_TZ)


def test_strict_writes_nothing(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    p = _csv(tmp_path, "id,text,occurred_at\n1,Good one,2024-01-01\n2,Bad date,yesterday\n")
    with pytest.raises(IngestError, match=r"--strict.*row 2"):
        _ingest(migrated_db, p, strict=True)
    assert _reports(migrated_db) == []


def test_oversized_report_refused_with_size(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    p = _csv(tmp_path, f"id,text\n1,{'x' * 150}\n2,short\n")
    summary = _ingest(migrated_db, p, max_chars=100)
    assert summary.new == 1
    assert summary.rejected == ["row 1: text is 150 characters, over llm.max_report_chars=100"]


def test_slugify_zone() -> None:
    assert slugify_zone("Local_01") == "local_01"
    assert slugify_zone("  Boiler Room #2 ") == "boiler_room_2"
    assert slugify_zone("Press-Line") == "press-line"
    assert slugify_zone("Acería") == "aceria"  # was "acer_a"
    assert slugify_zone("Área de Fundição ") == "area_de_fundicao"
    assert slugify_zone("Straße Ø") == "strasse_o"
    with pytest.raises(ValueError, match="no letters or digits"):
        slugify_zone("###")


def test_a_zone_name_matches_without_regard_to_case_or_accents() -> None:
    from floorwatch.config import ZoneConfig
    from floorwatch.ingest.reports import zone_names_of

    names = zone_names_of([ZoneConfig(id="nave_gruas", name="Nave de Grúas"), ZoneConfig(id="horno", name="Horno de Arco Eléctrico")])
    for label in ("Nave de Grúas", "Nave de Gruas", "NAVE DE GRÚAS", "nave de gruas"):
        assert names[slugify_zone(label)] == "nave_gruas"
    assert names[slugify_zone("horno de arco electrico")] == "horno"


def test_real_csv_with_flags_alone_twice_is_no_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from floorwatch.cli.main import app

    csv_path = shared_data("incidents", "industrial_safety_2016.csv")
    db = tmp_path / "fw.db"
    monkeypatch.setenv("FLOORWATCH_DATABASE__URL", f"sqlite:///{db}")
    monkeypatch.delenv("FLOORWATCH_CONFIG", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(app, ["ingest", "reports", str(csv_path), *REAL_FLAGS])
    assert first.exit_code == 0, first.output
    assert "285 new, 0 updated, 0 unchanged, 0 rejected" in first.output
    second = runner.invoke(app, ["ingest", "reports", str(csv_path), *REAL_FLAGS])
    assert "0 new, 0 updated, 285 unchanged, 0 rejected" in second.output
    from floorwatch.storage.db import make_engine, session_factory

    engine = make_engine(f"sqlite:///{db}")
    with session_scope(session_factory(engine)) as s:
        assert s.scalar(select(func.count()).select_from(IncidentReport)) == 285
        rep = s.scalars(select(IncidentReport).where(IncidentReport.source_id == "0")).one()
        assert rep.zone_id == "local_01" and rep.occurred_at is not None and rep.occurred_at.day == 1
        assert rep.attributes["Accident Level"] == "I" and rep.attributes["Critical Risk"] == "Pressed"
        assert s.scalar(select(func.count()).select_from(Zone)) == 12
    engine.dispose()
    bad = runner.invoke(app, ["ingest", "reports", str(csv_path), "--text-column", "Narrative"])
    assert bad.exit_code == 1 and "'Description'" in bad.output


def test_sample_media_reports_ingest(migrated_db: sessionmaker[Session]) -> None:
    folder = REPO_ROOT / "sample_media" / "incidents"
    mapping = ColumnMapping(id_column="report_no", text_column="description", time_column="date",
                            time_format="%d/%m/%Y %H:%M", zone_column="area")
    total = sum(_ingest(migrated_db, p, mapping).new for p in sorted(folder.iterdir()))
    reps = _reports(migrated_db)
    assert total == len(reps) == 8
    assert all("[NAME]" not in r.original_text for r in reps)
    assert sum("[NAME]" in r.redacted_text for r in reps) >= 4
    for r in reps:  # no name word found in a report's text is left in its title
        assert not redact(r.original_text).names & set(re.findall(r"[\w'-]+", r.title)), r.title


def test_front_matter_zone_without_letters_names_the_file(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    p = tmp_path / "odd-zone.md"
    p.write_text("---\nzone: '!!!'\noccurred_at: 2024-03-01\n---\nA worker slipped on oil.\n")
    with pytest.raises(IngestError, match=r"odd-zone.md: front matter zone: .*no letters or digits"):
        _ingest(migrated_db, p)
    assert _reports(migrated_db) == []


def test_an_update_says_how_to_keep_a_different_file_of_the_same_name() -> None:
    from floorwatch.ingest.reports import IngestSummary

    assert "--source-name" in IngestSummary(source="log.csv", updated=1).line()
    assert IngestSummary(source="log.csv", new=2).line() == "log.csv: 2 new, 0 updated, 0 unchanged, 0 rejected"


def test_encoding_option_applies_to_markdown(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    p = tmp_path / "note.md"
    p.write_bytes("Near miss \u2013 solvent \u201cspill\u201d at booth 2; operator\u2019s cost \u20ac150.\n".encode("cp1252"))
    _ingest(migrated_db, p, ColumnMapping(encoding="cp1252"))
    [rep] = _reports(migrated_db)
    assert rep.original_text.strip() == "Near miss \u2013 solvent \u201cspill\u201d at booth 2; operator\u2019s cost \u20ac150."
    with pytest.raises(IngestError, match="unknown encoding 'no-such-codec'"):
        _ingest(migrated_db, p, ColumnMapping(encoding="no-such-codec"))


def test_summary_counts_reports_without_time_or_zone_and_per_zone(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    p = _csv(tmp_path, "id,text,occurred_at,zone\n1,Cut,2024-01-01,Press Line\n2,Burn,,Boiler Rom\n"
                       "3,Slip,2024-01-02,\n4,Trip,,Boiler Rom\n")
    summary = _ingest(migrated_db, p)
    assert (summary.total, summary.no_time, summary.no_zone) == (4, 2, 1)
    assert summary.zone_reports == {"press_line": 1, "boiler_rom": 2}
    assert summary.unknown_zones(["press_line", "boiler_room"]) == {"boiler_rom": 2}
    assert summary.unknown_zones([]) == {}  # a configuration without zones: nothing to compare with
    assert len(_reports(migrated_db)) == 4  # stored all the same
    again = _ingest(migrated_db, p)  # the counts cover unchanged reports too
    assert (again.unchanged, again.no_time, again.no_zone, again.zone_reports) == (4, 2, 1, summary.zone_reports)


def test_a_short_row_is_named_as_such_when_it_lacks_the_text_and_kept_when_it_lacks_a_trailing_extra(
    migrated_db: sessionmaker[Session], tmp_path: Path
) -> None:
    path = _csv(tmp_path, "id,occurred_at,text,Reported By\n1,2024-03-04 08:00\n2,2024-03-04 09:00,Slipped on oil.\n"
                          "3,2024-03-04 10:00,Cut on a strap.,shift lead\n")
    summary = _ingest(migrated_db, path)
    assert summary.new == 2 and [r.split(":", 1)[0] for r in summary.rejected] == ["row 1"]
    assert "2 fields but the header has 4" in summary.rejected[0]
    kept = {r.source_id: r.attributes for r in _reports(migrated_db)}
    assert kept == {"2": {"Reported By": ""}, "3": {"Reported By": "shift lead"}}


def test_dates_without_a_time_of_day_are_marked_and_said(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    """An export's date alone (or its 00:00 filler) is stored at 00:00, which is no time the event happened at: the
    report is marked so hour and shift patterns leave it out, and the ingest says how many."""
    filler = _csv(tmp_path, "id,occurred_at,text\n1,01-03-2024 00:00:00,Slip on oil.\n2,05-03-2024 00:00:00,Cut on a strap.\n"
                            "3,07-03-2024 13:40:00,Hand pinched.\n4,14-03-2024,Forklift near miss.\n", "filler.csv")
    summary = _ingest(migrated_db, filler, ColumnMapping(time_format="%d-%m-%Y"))
    assert summary.date_only == 3
    assert any("3 of 4 reports have a date but no time of day" in n and "00:00 is the column's most common" in n
               for n in summary.notes), summary.notes
    known = {r.source_id: r.time_of_day_known for r in _reports(migrated_db)}
    assert known == {"1": False, "2": False, "3": True, "4": False}
    # times of day spread over the day: one 00:00 among them is an event at midnight
    clock = _csv(tmp_path, "id,occurred_at,text\n1,2024-03-01 00:00,Slip on oil.\n2,2024-03-05 07:15,Cut on a strap.\n"
                           "3,2024-03-07 13:40,Hand pinched.\n", "clock.csv")
    summary = _ingest(migrated_db, clock)
    assert summary.date_only == 0 and not any("time of day" in n for n in summary.notes)
    assert all(r.time_of_day_known for r in _reports(migrated_db) if r.source == "clock.csv")
    md = tmp_path / "dated.md"
    md.write_text("---\noccurred_at: 2024-03-11\nzone: Press Line\n---\nHand caught in the die.\n")
    assert _ingest(migrated_db, md).date_only == 1
    assert [r.time_of_day_known for r in _reports(migrated_db) if r.source == "dated.md"] == [False]
    # the flag is part of what is stored: a second ingest changes nothing
    assert _ingest(migrated_db, filler, ColumnMapping(time_format="%d-%m-%Y")).unchanged == 4


def test_a_time_without_a_colon_and_a_missing_time_are_not_dates_alone(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    """A layout whose clock has no colon ('%d.%m.%Y %H.%M') still gives a time of day; a report without any time is no
    'date alone' (its hash keeps the form it had before the flag existed)."""
    dotted = _csv(tmp_path, "id,occurred_at,text\n1,05.03.2024 14.30,Slip on oil.\n2,07.03.2024 09.15,Cut on a strap.\n"
                            "3,,Hand pinched.\n", "dotted.csv")
    summary = _ingest(migrated_db, dotted, ColumnMapping(time_format="%d.%m.%Y %H.%M"))
    assert summary.date_only == 0 and summary.no_time == 1
    assert all(r.time_of_day_known for r in _reports(migrated_db))


def test_the_midnight_filler_is_read_on_the_clock_as_written(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    """A '...T00:00:00Z' export at a site east of UTC reads 01:00 in site time: the filler is found on the written clock."""
    path = _csv(tmp_path, "id,occurred_at,text\n1,2024-03-01T00:00:00Z,Slip on oil.\n2,2024-03-05T00:00:00Z,Cut on a strap.\n"
                          "3,2024-03-07T13:40:00Z,Hand pinched.\n", "utc.csv")
    with session_scope(migrated_db) as s:
        summary = ingest_file(s, path, ColumnMapping(), tz=ZoneInfo("Europe/Berlin"), max_chars=20_000)
    assert summary.date_only == 2
    assert {r.source_id: r.time_of_day_known for r in _reports(migrated_db)} == {"1": False, "2": False, "3": True}
