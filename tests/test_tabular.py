"""The tabular reader and the date-layout inference on files the tests write (encodings, separators, dates)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from floorwatch.tabular import (
    TableError,
    numeric_column,
    read_csv_table,
    read_jsonl_table,
    uses_decimal_comma,
)
from floorwatch.timeformat import (
    ISO,
    TimeFormatError,
    has_time_of_day,
    infer_time_format,
    midnight_is_a_date,
    parse_time,
    shown_layout,
)

PT_ROWS = [
    ("1", "Queda de operário na área de prensagem; perna lesionada", "17/01/2017 08:00", "Prensas"),
    ("2", "Corte na mão durante manutenção da máquina", "18/01/2017 09:30", "Manutenção"),
    ("3", "Exposição a calor excessivo próximo ao forno", "02/02/2017 14:15", "Fundição"),
]


def _write(tmp_path: Path, name: str, text: str, encoding: str) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def _semicolon_csv(rows: list[tuple[str, ...]]) -> str:
    return "id;descrição;data;local\r\n" + "".join(";".join(f'"{v}"' if ";" in v else v for v in r) + "\r\n" for r in rows)


def test_cp1252_semicolon_file_is_decoded_and_split(tmp_path: Path) -> None:
    p = _write(tmp_path, "incidentes.csv", _semicolon_csv(PT_ROWS), "cp1252")
    with pytest.raises(UnicodeDecodeError):
        p.read_text(encoding="utf-8")  # the file really is not UTF-8
    table = read_csv_table(p)
    assert table.encoding == "cp1252" and table.sep == ";"
    assert table.columns == ["id", "descrição", "data", "local"]
    assert table.column("descrição")[0] == PT_ROWS[0][1]  # quoted ';' kept inside the field
    assert table.column("local") == ["Prensas", "Manutenção", "Fundição"]
    assert "encoding cp1252" in table.notes and "separator ';'" in table.notes


def test_utf8_bom_comma_file_has_a_clean_first_column(tmp_path: Path) -> None:
    p = _write(tmp_path, "log.csv", "\ufeffid,text,when\n1,Slip near press,2024-03-01 10:00\n", "utf-8")
    table = read_csv_table(p)
    assert table.encoding == "utf-8-sig" and table.sep == ","
    assert table.columns[0] == "id"  # not "\ufeffid"


@pytest.mark.parametrize(
    "encoding, line",
    [
        ("cp1252", "Der Bediener rutschte auf dem nassen Boden aus und verletzte sich am Knöchel. Schutzhandschuhe fehlten."),
        ("cp1252", "Worker burned his hand on an 80°C pipe near the café area"),
        ("cp1250", "Pracownik poślizgnął się na mokrej podłodze i złamał rękę. Brak oznakowania."),
        ("cp852", "Pracovník uklouzl na mokré podlaze a zlomil si ruku. Chybělo značení."),
        ("cp1251", "Рабочий поскользнулся на мокром полу и сломал руку. Не было знаков."),
    ],
)
def test_short_legacy_files_decode_to_their_own_text(tmp_path: Path, encoding: str, line: str) -> None:
    # charset-normalizer alone ranks hp_roman8 first for the short German text ("Knöchel" -> "Kn—chel")
    table = read_csv_table(_write(tmp_path, "one.csv", f"id,text\n1,{line}\n", encoding))
    assert table.column("text") == [line]


@pytest.mark.parametrize(
    "body",
    [
        # a trial at a Chilean foundry: charset-normalizer ranks ISO-8859-14 first ("NḞ Reporte"), at no chaos
        "N° Reporte;Fecha;Área;Descripción\nB-13;14/11/2026;Nave de Grúas;Golpe con gancho de grúa, contusión\n",
        "N° Reporte;Fecha;Área\n1;2;Nave de Grúas\n",
        "Nº;Fecha;Área;Descripción\n7;01/12/2026;Acería;«Quemadura» a 80°C – ¿falta de guantes?\n",
    ],
)
def test_windows_1252_spanish_export_is_not_read_as_a_rare_code_page(tmp_path: Path, body: str) -> None:
    table = read_csv_table(_write(tmp_path, "incidentes.csv", body, "cp1252"))
    assert table.encoding == "cp1252"
    assert table.columns == body.splitlines()[0].split(";")


def test_an_unclosed_quote_refuses_the_file_and_names_the_row(tmp_path: Path) -> None:
    # A trial: the open quote of row 1 swallowed row 2 into row 1's text, and both were "stored" as one report.
    p = _write(tmp_path, "log.csv", 'id,text,zone\nY-1,"ok text\nY-2,more text,Packaging\n', "utf-8")
    with pytest.raises(TableError, match=r"the quoted field of row 1 \(line 2\) is not closed before the end of the file"):
        read_csv_table(p)
    # text after a closing quote is read as before (strict csv would refuse the file)
    loose = _write(tmp_path, "loose.csv", 'id,text\n1,"a 12" pipe"\n2,ok\n', "utf-8")
    assert read_csv_table(loose).column("id") == ["1", "2"]
    ok = _write(tmp_path, "multi.csv", 'id,text\n1,"two\nlines"\n2,next\n', "utf-8")  # a closed multi-line field is fine
    assert read_csv_table(ok).column("text") == ["two\nlines", "next"]


def test_given_encoding_and_separator_override_detection(tmp_path: Path) -> None:
    p = _write(tmp_path, "x.csv", "a|b\n1|ç\n", "latin-1")
    table = read_csv_table(p, encoding="latin-1", sep="|")
    assert table.column("b") == ["ç"] and "(given)" in table.notes[0]
    with pytest.raises(TableError, match="does not decode as utf-8"):
        read_csv_table(p, encoding="utf-8")
    with pytest.raises(TableError, match="unknown encoding 'nope'"):
        read_csv_table(p, encoding="nope")


@pytest.mark.parametrize("sep", [";", "\t", "|", ","])
def test_delimiter_is_sniffed(tmp_path: Path, sep: str) -> None:
    body = sep.join(["time", "text", "zone"]) + "\n" + "".join(
        sep.join([f"2024-01-0{i} 10:00", f'"event {i}, minor"', f"z{i}"]) + "\n" for i in range(1, 6)
    )
    table = read_csv_table(_write(tmp_path, "s.csv", body, "utf-8"))
    assert table.sep == sep and table.columns == ["time", "text", "zone"]
    assert table.column("text")[0] == "event 1, minor"


def test_decimal_comma_columns_become_numbers(tmp_path: Path) -> None:
    p = _write(tmp_path, "n.csv", "t;temp;count\n2024-01-01;12,5;3\n2024-01-02;1.013,25;4\n2024-01-03;-0,75;\n", "utf-8")
    table = read_csv_table(p)
    assert uses_decimal_comma(table)
    assert numeric_column(table.column("temp"), True) == [12.5, 1013.25, -0.75]
    assert numeric_column(table.column("count"), True) == [3.0, 4.0, None]
    assert numeric_column(["a", "1"], True) is None


def test_jsonl_bad_lines_become_records_with_reasons(tmp_path: Path) -> None:
    p = _write(tmp_path, "r.jsonl", '{"text": "ok"}\nnot json\n[1]\n', "utf-8-sig")
    table = read_jsonl_table(p)
    assert [n for n, _ in table.records] == [1, 2, 3]
    assert "invalid JSON" in table.records[1][1]["__error__"]
    assert "expected a JSON object" in table.records[2][1]["__error__"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["17-01-2017 00:00", "01-02-2017 10:00"], "%d-%m-%Y"),  # a day above 12 proves day-first
        (["01/17/2017 00:00", "02/01/2017 10:00"], "%m/%d/%Y"),  # a second part above 12: month-first
        (["31.12.99", "01.02.00"], "%d.%m.%y"),
        (["2017/01/17 00:00", "2017/02/01"], "%Y/%m/%d"),
        (["2017-01-17T00:00:00Z", "2017-02-01 10:00"], ISO),
        (["05/05/2017", "", None], "%d/%m/%Y"),  # day == month everywhere: either reading is the same
    ],
)
def test_date_layout_is_inferred_from_the_whole_column(values: list, expected: str) -> None:
    assert infer_time_format(values) == expected


def test_ambiguous_and_contradictory_columns_are_refused_with_examples() -> None:
    with pytest.raises(TimeFormatError, match=r"ambiguous dates.*'01/02/2017 10:00'.*--time-format"):
        infer_time_format(["01/02/2017 10:00", "03/04/2017 11:00"], "Data")
    with pytest.raises(TimeFormatError, match=r"both day-first \('13/01/2017'\) and month-first \('01/13/2017'\)"):
        infer_time_format(["13/01/2017", "01/13/2017"])
    with pytest.raises(TimeFormatError, match="no value in a known date layout, e.g. 'yesterday'"):
        infer_time_format(["yesterday", "today"])
    assert infer_time_format(["2017-01-02", "soon"]) == ISO  # one bad value is left to its row


def test_naive_times_are_in_the_site_zone() -> None:
    lisbon_summer = parse_time("17-07-2017 10:00", "%d-%m-%Y", ZoneInfo("Europe/Lisbon"))
    assert lisbon_summer == datetime(2017, 7, 17, 9, 0, tzinfo=UTC)
    assert parse_time("2017-07-17T10:00:00+02:00", ISO, ZoneInfo("Europe/Lisbon")) == datetime(2017, 7, 17, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="does not match %d-%m-%Y"):
        parse_time("2017-07-17", "%d-%m-%Y", ZoneInfo("UTC"))


def test_a_row_with_more_fields_than_the_header_is_an_error_not_a_cut_text(tmp_path: Path) -> None:
    """An unquoted comma in a German note split the text; the rest was dropped without a word."""
    body = "id,occurred_at,text\n1,2024-03-01 10:00,Verbrennung am Ofen bei 48°C, Herr Müller\n2,2024-03-02 10:00,ok\n"
    table = read_csv_table(_write(tmp_path, "x.csv", body, "utf-8"))
    (_, bad), (_, good) = table.records
    assert "4 fields but the header has 3" in bad["__error__"] and "unquoted ','" in bad["__error__"]
    assert good == {"id": "2", "occurred_at": "2024-03-02 10:00", "text": "ok"}
    assert table.column("text") == ["ok"]


def test_a_row_with_fewer_fields_than_the_header_says_so(tmp_path: Path) -> None:
    """A trial: 'B-11;16/11/2026;Laminador' under a 4-column header was rejected as 'empty text in column ...'. The
    short row's last columns are empty (tools leave out trailing empty fields) and it says why, for a reader that
    needs them."""
    from floorwatch.tabular import SHORT_ROW

    body = "N;Fecha;Área;Descripción\nB-11;16/11/2026;Laminador\nB-12;17/11/2026;Laminador;Corte en la mano\n"
    table = read_csv_table(_write(tmp_path, "x.csv", body, "utf-8"))
    (_, short), (_, good) = table.records
    assert short["Descripción"] == "" and short[SHORT_ROW].startswith("3 fields but the header has 4")
    assert good["Descripción"] == "Corte en la mano" and SHORT_ROW not in good


def test_the_shown_layout_includes_the_time_of_day_that_is_read() -> None:
    # A trial: "14/11/2026 03:40" was reported as "%d/%m/%Y (inferred)", as if the time were dropped
    assert shown_layout("%d/%m/%Y", ["14/11/2026 03:40", "15/11/2026 22:05"]) == "%d/%m/%Y %H:%M"
    assert shown_layout("%d/%m/%Y", ["14/11/2026", "", None]) == "%d/%m/%Y"
    assert shown_layout("%d-%m-%Y", ["14-11-2026 03:40:10", "15-11-2026"]) == "%d-%m-%Y %H:%M:%S or %d-%m-%Y"
    assert shown_layout(ISO, ["2026-11-14T03:40"]) == ISO


def test_a_date_that_does_not_exist_is_named_as_such() -> None:
    # A trial: "31/02/2024 08:00" was rejected as "does not match %d/%m/%Y", which it does
    with pytest.raises(ValueError, match="fits %d/%m/%Y but is not a real date or time"):
        parse_time("31/02/2024 08:00", "%d/%m/%Y", ZoneInfo("UTC"))
    with pytest.raises(ValueError, match="does not match %d/%m/%Y"):
        parse_time("2024-02-03", "%d/%m/%Y", ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("value", "known"),
    [("2016-01-08 14:30", True), ("08/01/2016 00:00", True), ("2016-01-08T14:30Z", True),
     (datetime(2016, 1, 8, 0, 0), True), ("08/01/2016", False), ("2016-01-08", False),
     (date(2016, 1, 8), False), (None, False), ("", False)],
)
def test_a_value_says_whether_it_gives_a_time_of_day(value: object, known: bool) -> None:
    assert has_time_of_day(value) is known


def test_midnight_is_a_date_only_where_it_is_the_columns_filler() -> None:
    t = time.fromisoformat
    assert midnight_is_a_date([t("00:00")] * 3)  # a date column exported with 00:00 (spreadsheets)
    assert midnight_is_a_date([t("00:00")] * 3 + [t("07:15"), t("13:40")])  # mostly dates, a few clock times
    assert not midnight_is_a_date([t("00:00"), t("07:15"), t("13:40")])  # one event at midnight is a time
    assert not midnight_is_a_date([t("00:00")] * 2 + [t("08:00")] * 2)  # rounded times: 00:00 no more than 08:00
    assert not midnight_is_a_date([t("07:15"), t("13:40")])
    assert not midnight_is_a_date([])
