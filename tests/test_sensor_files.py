"""Sensor logs as plants export them: any sampling rate, clock faults, gaps, decimal comma; no flags needed.

Files are written by the tests: a 5-minute machine-temperature log whose clock jumps back an hour
once, a 1-second log with duplicated timestamps, gaps and decimal commas, a slowly drifting healthy
machine and a lasting level shift. End-to-end cases go through ``floorwatch ingest sensors``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from floorwatch.cli.main import app
from floorwatch.schemas.tables import Sensor, SensorAnomaly, SensorWindow
from floorwatch.signals.anomaly import AnomalyDetectorConfig, detect, fit, split_fit
from floorwatch.signals.sensor_units import channel_category
from floorwatch.signals.sensors import read_sensor_csv


def _machine_log(tmp_path: Path, *, days: int = 30, fault_day: float = 21.0, jump_back_at: int | None = 3000) -> Path:
    """5-minute temperature log (daily cycle + noise), a 12-hour overheating from ``fault_day``, one clock jump back."""
    rng = np.random.default_rng(7)
    n = days * 288
    t = pd.date_range("2024-01-01", periods=n, freq="5min")
    temp = 70 + 2.0 * np.sin(2 * np.pi * np.arange(n) / 288) + rng.normal(0, 0.4, n)
    f0 = int(fault_day * 288)
    temp[f0 : f0 + 144] += np.linspace(4, 12, 144)
    stamps = t.strftime("%d/%m/%Y %H:%M").to_numpy().copy()
    if jump_back_at is not None:  # the logger's clock goes back an hour and runs on from there
        shifted = (t[jump_back_at:] - pd.Timedelta(hours=1)).strftime("%d/%m/%Y %H:%M")
        stamps[jump_back_at:] = shifted
    df = pd.DataFrame({"timestamp": stamps, "Bearing temp (°C)": temp.round(2)})
    p = tmp_path / "machine_7.csv"
    df.to_csv(p, index=False, sep=";", decimal=",")
    return p


def _utc(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def test_five_minute_log_with_clock_jump_back_needs_no_flags(tmp_path: Path, fresh_sqlite_url: str) -> None:
    path = _machine_log(tmp_path)
    result = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", "press-hall"])
    assert result.exit_code == 0, result.output
    assert "clock went back 1 time(s) (largest 0 days 00:55:00" in result.output
    assert "decimal comma in 1 column(s)" in result.output and "time column 'timestamp': %d/%m/%Y %H:%M (inferred)" in result.output
    assert "sampling step 0 days 00:05:00" in result.output
    engine = create_engine(fresh_sqlite_url)
    with Session(engine) as s:
        found = list(s.scalars(select(SensorAnomaly)))
        assert s.scalar(select(func.count()).select_from(Sensor)) == 1
        assert s.scalar(select(func.count()).select_from(SensorWindow)) > 0
    engine.dispose()
    fault = pd.Timestamp("2024-01-22 00:00", tz="UTC")
    hits = [a for a in found if _utc(a.started_at) <= fault + pd.Timedelta(hours=12) and _utc(a.ended_at) >= fault]
    assert len(hits) == 1 and hits[0].category == "overheating"
    assert len(found) <= 3  # the daily cycle is not an anomaly


def test_sensor_readings_for_a_zone_the_configuration_lacks_are_stored_with_a_warning(tmp_path: Path, fresh_sqlite_url: str) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("zones:\n  - id: press_hall\n  - id: boiler_room\n", encoding="utf-8")
    path = _machine_log(tmp_path)
    result = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", "press-hal", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert (f"warning: {path.name}: zone 'press-hal' is not in the configuration (known zones: boiler_room, press_hall); "
            "the readings were stored under it (did you mean 'press_hall'?)") in result.stderr
    dry = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", "press-hal", "--config", str(cfg), "--dry-run"])
    assert dry.exit_code == 0 and "the readings would be stored under it (did you mean 'press_hall'?)" in dry.stderr
    known = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", "press_hall", "--config", str(cfg)])
    assert known.exit_code == 0 and "not in the configuration" not in known.stderr


def test_sensor_zone_may_be_given_by_its_configured_name(tmp_path: Path, fresh_sqlite_url: str) -> None:
    # A trial: --zone "Horno de Arco Eléctrico" (the zone's configured name) was refused as "not a valid zone id",
    # while ingest reports accepts zone names.
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("zones:\n  - id: horno_arco\n    name: Horno de Arco Eléctrico\n  - id: laminador\n", encoding="utf-8")
    path = _machine_log(tmp_path, days=15, fault_day=10.0, jump_back_at=None)
    for label in ("Horno de Arco Eléctrico", "horno de arco electrico"):
        dry = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", label, "--config", str(cfg), "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert f"zone {label!r}: the configured zone 'horno_arco'" in dry.stderr and "not in the configuration" not in dry.stderr
    result = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", "Horno de Arco Eléctrico", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    engine = create_engine(fresh_sqlite_url)
    with Session(engine) as s:
        assert list(s.scalars(select(Sensor.zone_id))) == ["horno_arco"]
    engine.dispose()
    other = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", "Nave X", "--config", str(cfg), "--dry-run"])
    assert other.exit_code == 1 and "not a valid zone id" in other.output


def test_anomaly_times_are_printed_in_the_site_zone_and_say_so(tmp_path: Path, fresh_sqlite_url: str) -> None:
    # A trial printed "2026-11-23 15:02:00 .. 15:46:00 overheating" in UTC, unlabelled, for a site in Chile
    path = _machine_log(tmp_path, days=15, fault_day=10.0, jump_back_at=None)  # the fault starts 2024-01-11 local
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("site:\n  timezone: America/Santiago\n", encoding="utf-8")
    site = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", "z1", "--dry-run", "--config", str(cfg)])
    assert site.exit_code == 0, site.output
    assert "anomalies (times in America/Santiago, site.timezone):" in site.stdout
    [line] = [ln for ln in site.stdout.splitlines() if "overheating" in ln]
    assert line.strip().startswith("2024-01-11 00:") and " -03 " in line  # the file's local time, not UTC (03:..)
    utc = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", "z1", "--dry-run"])
    assert "anomalies (times in UTC):" in utc.stdout and " UTC  overheating" in utc.stdout


def test_one_second_log_with_duplicates_gaps_and_decimal_comma(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 1500
    t = pd.date_range("2024-05-01 08:00:00", periods=n, freq="s")
    df = pd.DataFrame({"datetime": t.strftime("%Y-%m-%d %H:%M:%S"), "Vibration_mm/s": 2 + rng.normal(0, 0.05, n),
                       "Motor current [A]": 12 + rng.normal(0, 0.2, n)})
    df.loc[1000:1099, "Vibration_mm/s"] += 1.0
    df = pd.concat([df.iloc[:600], df.iloc[[599, 599]], df.iloc[720:]])  # 2 duplicates, a 2-minute gap
    p = tmp_path / "rig.csv"
    df.to_csv(p, index=False, sep=";", decimal=",")
    series = read_sensor_csv(p)
    assert series.period == pd.Timedelta(seconds=1)
    assert "2 reading(s) with a repeated timestamp averaged" in series.notes
    assert "1 gap(s) in the readings, longest 120 step(s), kept as gaps" in series.notes
    assert series.values.iloc[600:720].isna().all().all() and len(series.values) == n
    cfg = AnomalyDetectorConfig()
    found, rel = detect(series.values, fit(split_fit(series.values, cfg), cfg))
    assert np.isnan(rel[600:720]).all()  # no score where there is no reading
    assert [(iv.channels[0], channel_category(iv.channels[0])) for iv in found] == [("Vibration_mm/s", "vibration")]
    assert 990 <= found[0].start <= 1010 and found[0].end <= 1130


def test_faults_inside_the_fit_span_do_not_blind_the_detector() -> None:
    rng = np.random.default_rng(5)
    n = 30 * 288  # 30 days at 5 minutes; the default fit span is the first 10.5 days
    idx = pd.date_range("2024-01-01", periods=n, freq="5min", tz="UTC")
    temp = 70 + 2.0 * np.sin(2 * np.pi * np.arange(n) / 288) + rng.normal(0, 0.4, n)
    for day in (4, 7, 21):  # two of the three overheatings fall inside the fit span
        temp[day * 288 : day * 288 + 144] += np.linspace(4, 12, 144)
    df = pd.DataFrame({"temp": temp}, index=idx)
    cfg = AnomalyDetectorConfig()
    found, _ = detect(df, fit(split_fit(df, cfg), cfg))
    assert [round(iv.start / 288) for iv in found] == [4, 7, 21]
    assert all(iv.end - iv.start < 200 for iv in found)


def test_slow_drift_is_not_an_anomaly_and_a_level_shift_is_reported_once() -> None:
    rng = np.random.default_rng(11)
    n = 6000
    idx = pd.date_range("2024-01-01", periods=n, freq="min", tz="UTC")
    drift = pd.DataFrame({"Oil temp": 60 + np.linspace(0, 3, n) + rng.normal(0, 0.3, n)}, index=idx)
    cfg = AnomalyDetectorConfig()
    found, _ = detect(drift, fit(split_fit(drift, cfg), cfg))
    assert found == []  # 3 degrees over 4 days, 10 x the noise: a healthy machine warming with the season
    shifted = drift.copy()
    shifted.iloc[3000:, 0] += 5.0  # e.g. a recalibrated sensor or a new operating point, kept to the end
    found, _ = detect(shifted, fit(split_fit(shifted, cfg), cfg))
    assert len(found) == 1 and 2990 <= found[0].start <= 3010
    assert found[0].end < n - 500  # learnt as the new level after a fit span, not flagged to the end of the file


@pytest.mark.parametrize(
    ("name", "unit", "context", "category"),
    [
        ("Thermocouple", None, None, "overheating"),
        ("T1 (°C)", None, None, "overheating"),
        ("T1", "degF", None, "overheating"),
        ("value", None, "machine_temperature_system_failure", "overheating"),
        ("P_outlet [bar]", None, None, "pressure"),
        ("Accelerometer1RMS", None, None, "vibration"),
        ("ch3", "mm/s", None, "vibration"),
        ("Phase_C", None, None, "electrical"),  # "C" here is a phase, not Celsius
        ("Volume Flow RateRMS", None, None, "flow"),
        ("line_m3/h", None, None, "flow"),
        ("value", None, None, "other"),
    ],
)
def test_category_from_units_and_names(name: str, unit: str | None, context: str | None, category: str) -> None:
    assert channel_category(name, unit, context) == category


def test_sensor_file_with_no_usable_rows_exits_non_zero_and_writes_nothing(tmp_path: Path, fresh_sqlite_url: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("datetime;Temp\n2024-01-01 00:00:00;abc\n2024-01-01 00:00:01;def\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "sensors", str(p), "--zone", "z1"])
    assert result.exit_code == 1 and "line 2, column 'Temp': 'abc' is not a number" in result.output
    engine = create_engine(fresh_sqlite_url)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Sensor)) == 0
    engine.dispose()


def test_one_bad_number_in_a_decimal_comma_log_is_named_by_line_column_and_value(tmp_path: Path, fresh_sqlite_url: str) -> None:
    rows = [f"2024-01-01 00:{i // 60:02d}:{i % 60:02d};{70 + i % 7},{i % 10};1{i % 3}" for i in range(40)]
    rows[14] = rows[14].rsplit(";", 2)[0] + ";12,5x;11"  # the 15th reading; a blank line before it in the file
    p = tmp_path / "sensors.csv"
    p.write_text("datetime;Temperature;Pressure\n" + "\n".join(rows[:10]) + "\n\n" + "\n".join(rows[10:]) + "\n",
                 encoding="utf-8")
    assert p.read_text().splitlines()[16].endswith(";12,5x;11")  # line 17 in an editor (header = line 1)
    result = CliRunner().invoke(app, ["ingest", "sensors", str(p), "--zone", "z1"])
    assert result.exit_code == 1
    assert f"error: {p}: line 17, column 'Temperature': '12,5x' is not a number" in result.output
    assert "Pressure" not in result.output  # its whole numbers ("11") sit fine beside decimal commas
    engine = create_engine(fresh_sqlite_url)
    with Session(engine) as s:  # the file is refused whole: nothing stored
        assert s.scalar(select(func.count()).select_from(Sensor)) == 0
        assert s.scalar(select(func.count()).select_from(SensorWindow)) == 0
    engine.dispose()


def test_bad_values_are_named_by_the_line_an_editor_shows(tmp_path: Path) -> None:
    p = tmp_path / "log.csv"
    p.write_text('"Date\nand time",T,U\n2024-01-01 00:00:00,1.5,2\n\n   \n2024-01-01 00:00:01,x,3\n'
                 "2024-01-01 00:00:02,y,4\n2024-01-01 00:00:03,2.5,z\n", encoding="utf-8")
    # header on lines 1-2 (a quoted name with a line break), a blank and a whitespace-only line (4, 5) skipped
    with pytest.raises(ValueError, match=r"log\.csv: line 6, column 'T': 'x' is not a number \(and 1 more in this "
                                         r"column: line 7 'y'\); line 8, column 'U': 'z' is not a number$"):
        read_sensor_csv(p)
    p.write_text("datetime;T\n2024-01-01 00:00:00;1,5\n\n2024-01-01 00:00:01;2.5\n2024-01-01 00:00:02;3,5\n")
    with pytest.raises(ValueError, match=r"line 4, column 'T': '2\.5' has a decimal point; the column's other values"):
        read_sensor_csv(p)
    # the column's style is its majority's: one decimal comma among points is the odd value, not the points
    p.write_text("datetime;T\n2024-01-01 00:00:00;1.5\n2024-01-01 00:00:01;2.5\n2024-01-01 00:00:02;4,5\n"
                 "2024-01-01 00:00:03;3.5\n")
    with pytest.raises(ValueError, match=r"line 4, column 'T': '4,5' has a decimal comma; the column's other values "
                                         r"have a decimal point$"):
        read_sensor_csv(p)
    p.write_text("datetime;T\n2024-01-01 00:00:00;1,5\n\n2024-01-01 00:00:61;2,5\n")
    with pytest.raises(ValueError, match=r"unparseable time in column 'datetime': line 4 '2024-01-01 00:00:61'"):
        read_sensor_csv(p)


def test_sensor_dry_run_writes_nothing(tmp_path: Path, fresh_sqlite_url: str) -> None:
    path = _machine_log(tmp_path, days=15, fault_day=10.0, jump_back_at=None)  # day 13+ proves day-first
    result = CliRunner().invoke(app, ["ingest", "sensors", str(path), "--zone", "z1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run, nothing written" in result.output and "4320 readings of 1 channels would be stored" in result.output
    assert not Path(fresh_sqlite_url.removeprefix("sqlite:///")).exists()
