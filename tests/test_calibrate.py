"""Severity calibrator: labels, honest cross-fitting, files, migration 0003, the CLI on the real CSV, extraction."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from alembic import command
from sqlalchemy import inspect, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from floorwatch.calibration.calibrator import (
    CalibrationError,
    CalibrationMeta,
    SeverityCalibrator,
    applicable_calibrator,
    cross_fit,
    load_calibrator,
    parse_severity_label,
    save_calibrator,
)
from floorwatch.cli.main import app
from floorwatch.config import LLMConfig
from floorwatch.ingest.reports import ColumnMapping, ingest_file
from floorwatch.llm.backends import OpenAIBackend
from floorwatch.llm.extract import extract_reports
from floorwatch.llm.prompts import EXTRACT_PROMPT_VERSION
from floorwatch.schemas.tables import IncidentExtraction, IncidentReport
from floorwatch.storage.db import make_engine, session_factory, session_scope
from floorwatch.storage.migrate import alembic_config, current_revision, upgrade
from tests.conftest import shared_data
from tests.llm_factories import add_incidents, sqlite_db

LABEL = "Potential Accident Level"
SEVERITY_WORDS = {1: "scratch", 2: "bruise", 3: "sprain", 4: "fracture", 5: "amputation"}
FILLER = ["operator", "shift", "pump", "valve", "conveyor", "forklift", "ladder", "panel", "floor", "guard", "belt", "crane", "hose", "tank"]


def synthetic(n: int, seed: int = 1) -> tuple[list[str], list[float], list[int]]:
    """Texts whose label is carried by one word (plus filler); an 'LLM' value that is the label plus noise."""
    rng = random.Random(seed)
    texts, llm, labels = [], [], []
    for _ in range(n):
        label = rng.randint(1, 5)
        words = rng.sample(FILLER, 5) + [SEVERITY_WORDS[label]] * 2
        rng.shuffle(words)
        texts.append(" ".join(words))
        llm.append(float(min(5, max(1, label + rng.choice([-2, -1, 0, 1, 2])))))
        labels.append(label)
    return texts, llm, labels


# --------------------------------------------------------------------------- labels
@pytest.mark.parametrize(("value", "expected"), [("I", 1), (" iv ", 4), ("V", 5), ("VI", 5), ("6", 5), (3, 3), ("1", 1)])
def test_labels_map_to_the_1_to_5_scale(value: object, expected: int) -> None:
    assert parse_severity_label(value, "r1") == expected


@pytest.mark.parametrize("value", ["VII", "0", "7", "", None, "high", "2.5"])
def test_bad_label_names_the_incident_and_value(value: object) -> None:
    with pytest.raises(CalibrationError, match=r"incident 'r42'.*not I-VI or 1-6") as err:
        parse_severity_label(value, "r42")
    assert repr(value) in str(err.value)


# --------------------------------------------------------------------------- cross-fitting
def test_cross_fit_learns_words_within_bounds_and_out_of_fold() -> None:
    texts, llm, labels = synthetic(80)
    # One report with the mildest wording but the extreme label: only a model that saw it could pull it up.
    texts.append(" ".join(FILLER[:5] + [SEVERITY_WORDS[1]] * 2))
    llm.append(1.0)
    labels.append(5)
    fit = cross_fit(texts, llm, labels, folds=5, seed=0)
    m = fit.metrics
    assert m.n == m.n_text == 81
    assert m.spearman_text is not None and m.spearman_text > 0.8
    assert m.spearman_blend is not None and m.spearman_blend > 0.8
    assert m.spearman_llm is not None and m.spearman_llm < m.spearman_blend  # the text adds to the noisy LLM
    assert np.all((fit.calibrated >= 1) & (fit.calibrated <= 5)) and np.all((fit.text_only >= 1) & (fit.text_only <= 5))
    assert m.weights["llm"] >= 0 and m.weights["text"] > 0
    odd = len(texts) - 1
    assert fit.calibrated[odd] < 2.5  # predicted from the other reports' wording, not from its own label
    in_sample = fit.calibrator.predict([texts[odd]], [1.0])[0]
    assert in_sample > fit.calibrated[odd]  # the model fitted on all rows has seen it, the out-of-fold one has not


def test_cross_fit_uses_reports_without_llm_value_for_the_text_stage_only() -> None:
    texts, llm, labels = synthetic(90)
    partial: list[float | None] = [v if i < 40 else None for i, v in enumerate(llm)]
    fit = cross_fit(texts, partial, labels)
    assert (fit.metrics.n, fit.metrics.n_text) == (40, 90)
    assert np.isnan(fit.calibrated[40:]).all() and np.isfinite(fit.calibrated[:40]).all()
    assert np.isfinite(fit.text_only).all()


def test_fewer_than_30_rows_is_refused() -> None:
    texts, llm, labels = synthetic(29)
    with pytest.raises(CalibrationError, match="29 labelled reports.*at least 30"):
        cross_fit(texts, llm, labels)
    with pytest.raises(CalibrationError, match="at least 30"):
        SeverityCalibrator().fit(texts, llm, labels)
    texts, llm, labels = synthetic(60)
    with pytest.raises(CalibrationError, match="60 labelled reports, 20 of them with an LLM"):
        cross_fit(texts, [v if i < 20 else None for i, v in enumerate(llm)], labels)


# --------------------------------------------------------------------------- files
def _meta(model: str = "m", prompt: str = EXTRACT_PROMPT_VERSION) -> CalibrationMeta:
    fit = cross_fit(*synthetic(40))
    return CalibrationMeta(fitted_at=datetime.now(UTC), n_rows=40, n_text_rows=40, label_column=LABEL,
                           prompt_version=prompt, model=model, metrics=fit.metrics)


def test_save_load_round_trip_and_bad_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    texts, llm, labels = synthetic(40)
    cal = SeverityCalibrator().fit(texts, llm, labels)
    path = save_calibrator(tmp_path / "cal" / "sev.joblib", cal, _meta())
    loaded = load_calibrator(path)
    assert loaded.meta.label_column == LABEL and loaded.meta.prompt_version == EXTRACT_PROMPT_VERSION
    assert np.allclose(loaded.calibrator.predict(texts[:5], llm[:5]), cal.predict(texts[:5], llm[:5]))
    assert applicable_calibrator(path, EXTRACT_PROMPT_VERSION, "m") is not None
    with caplog.at_level(logging.WARNING):
        assert applicable_calibrator(path, EXTRACT_PROMPT_VERSION, "other-model") is None
    assert "other-model" in caplog.text and "ignored" in caplog.text
    assert applicable_calibrator(tmp_path / "absent.joblib", EXTRACT_PROMPT_VERSION, "m") is None

    corrupt = tmp_path / "corrupt.joblib"
    corrupt.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CalibrationError, match=f"{corrupt}.*unreadable or corrupt"):
        load_calibrator(corrupt)
    other = tmp_path / "other.joblib"
    import joblib

    joblib.dump({"format": 1, "calibrator": "not one"}, other)
    with pytest.raises(CalibrationError, match=f"{other} is not a Floorwatch calibrator"):
        load_calibrator(other)
    with pytest.raises(CalibrationError, match="file not found"):
        load_calibrator(tmp_path / "absent.joblib")


# --------------------------------------------------------------------------- migration 0003
def test_migration_0003_adds_the_column_and_keeps_rows(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert upgrade(engine, "0002") == "0002"
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO incident_reports (source, source_id, content_hash, title, original_text, redacted_text, "
                "attributes, ingested_at) VALUES ('s', '1', 'h', '', 'x', 'x', '{}', '2024-01-01 00:00:00')"))
            rid = conn.execute(text("SELECT id FROM incident_reports")).scalar_one()
            conn.execute(text(
                "INSERT INTO incident_extractions (incident_id, prompt_version, model, input_hash, status, "
                "potential_severity, causes, controls, raw, created_at) "
                f"VALUES ({rid}, 'v', 'm', 'h', 'ok', 4, '[]', '[]', '{{}}', '2024-01-01 00:00:00')"))
        assert upgrade(engine, "0003") == "0003"
        cols = {c["name"] for c in inspect(engine).get_columns("incident_extractions")}
        assert "potential_severity_calibrated" in cols
        with engine.begin() as conn:
            row = conn.execute(text("SELECT potential_severity, potential_severity_calibrated FROM incident_extractions")).one()
            assert tuple(row) == (4, None)
            conn.execute(text("UPDATE incident_extractions SET potential_severity_calibrated = 3.25"))
        cfg = alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        assert current_revision(engine) == "0002"
        assert "potential_severity_calibrated" not in {c["name"] for c in inspect(engine).get_columns("incident_extractions")}
        with engine.begin() as conn:
            assert conn.execute(text("SELECT potential_severity FROM incident_extractions")).scalar_one() == 4
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- CLI on the real CSV
def _add_extractions(factory: sessionmaker[Session], reports: list[IncidentReport]) -> None:
    # Test fixture values, not LLM output: potential_severity from the text length, so the command runs
    # without a model. Only the mechanics (which rows, what is stored, exit codes) are under test here.
    with session_scope(factory) as s:
        s.add_all(IncidentExtraction(
            incident_id=r.id, prompt_version=EXTRACT_PROMPT_VERSION, model="fixture-model", input_hash="h",
            status="ok", potential_severity=1 + len(r.redacted_text) % 5,
        ) for r in reports)


def _calibrated(factory: sessionmaker[Session]) -> dict[str, float | None]:
    with session_scope(factory) as s:
        stmt = select(IncidentReport.source_id, IncidentExtraction.potential_severity_calibrated).join(IncidentExtraction)
        return {sid: v for sid, v in s.execute(stmt)}


def _set_label(factory: sessionmaker[Session], source_id: str, value: str) -> None:
    with session_scope(factory) as s:
        rep = s.scalars(select(IncidentReport).where(IncidentReport.source_id == source_id)).one()
        rep.attributes = {**rep.attributes, LABEL: value}


@pytest.fixture
def real_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[sessionmaker[Session], list[IncidentReport]]]:
    csv_path = shared_data("incidents", "industrial_safety_2016.csv")
    url = f"sqlite:///{tmp_path / 'fw.db'}"
    monkeypatch.setenv("FLOORWATCH_DATABASE__URL", url)
    monkeypatch.delenv("FLOORWATCH_CONFIG", raising=False)
    monkeypatch.setenv("FLOORWATCH_STATE_DIR", str(tmp_path / "state"))
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(url)
    factory = session_factory(engine)
    mapping = ColumnMapping(id_column="", text_column="Description", time_column="Data",
                            time_format="%d-%m-%Y %H:%M", zone_column="Local")  # as benchmarks/incidents.py
    with session_scope(factory) as s:
        ingest_file(s, csv_path, mapping, tz=ZoneInfo("UTC"), max_chars=20_000)
    with session_scope(factory) as s:
        reports = list(s.scalars(select(IncidentReport).order_by(IncidentReport.id)))
        s.expunge_all()
    yield factory, reports
    engine.dispose()


def test_cli_refuses_without_enough_labelled_extractions(real_db, tmp_path: Path) -> None:  # noqa: ANN001
    factory, reports = real_db
    runner = CliRunner()
    args = ["calibrate", "severity", "--label-column", LABEL, "--out", str(tmp_path / "c.joblib")]
    none = runner.invoke(app, args)
    assert none.exit_code == 2 and "no incident report has both" in none.output and "285 have one" in none.output
    _add_extractions(factory, reports[:20])
    wrong = runner.invoke(app, ["calibrate", "severity", "--label-column", "Severity"])
    assert wrong.exit_code == 2 and "'Severity' value (0 have one)" in wrong.output
    few = runner.invoke(app, args)
    assert few.exit_code == 2 and "20 of them with an LLM" in few.output and "at least 30" in few.output
    _add_extractions(factory, reports[20:150])
    _set_label(factory, reports[5].source_id, "VII")
    bad = runner.invoke(app, args)
    assert bad.exit_code == 2, bad.output
    assert f"incident '{reports[5].source_id}'" in bad.output and "'VII'" in bad.output
    assert set(_calibrated(factory).values()) == {None}  # nothing written
    assert not (tmp_path / "c.joblib").exists()


def test_cli_fits_stores_out_of_fold_values_and_saves(real_db, tmp_path: Path) -> None:  # noqa: ANN001
    factory, reports = real_db
    _add_extractions(factory, reports[:150])
    unlabelled = reports[5]
    _set_label(factory, unlabelled.source_id, "")
    out = tmp_path / "cal" / "sev.joblib"
    res = CliRunner().invoke(app, ["calibrate", "severity", "--label-column", LABEL, "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    m = doc["metrics"]
    assert (m["n"], m["n_text"], doc["rows_out_of_fold"], doc["rows_unlabelled"]) == (149, 284, 149, 1)
    assert doc["meta"]["model"] == "fixture-model" and doc["meta"]["prompt_version"] == EXTRACT_PROMPT_VERSION
    # The narratives carry real signal about the potential level (0.46 measured out-of-fold on all 285).
    assert m["spearman_text"] > 0.3
    stored = _calibrated(factory)
    assert len(stored) == 150 and all(v is not None and 1 <= v <= 5 for v in stored.values())
    saved = load_calibrator(out)
    assert saved.meta.n_rows == 149 and saved.meta.label_column == LABEL
    by_sid = {r.source_id: r for r in reports}
    # The unlabelled report gets the final model's value; labelled ones their out-of-fold value, not it.
    llm = {sid: 1 + len(by_sid[sid].redacted_text) % 5 for sid in stored}
    final = {sid: float(saved.calibrator.predict([by_sid[sid].redacted_text], [llm[sid]])[0]) for sid in stored}
    assert stored[unlabelled.source_id] == pytest.approx(final[unlabelled.source_id])
    differ = sum(abs(stored[sid] - final[sid]) > 1e-6 for sid in stored if sid != unlabelled.source_id)
    assert differ >= 140

    text_out = CliRunner().invoke(app, ["calibrate", "severity", "--label-column", LABEL])  # default path
    assert text_out.exit_code == 0, text_out.output
    assert "out-of-fold" in text_out.output and "149 out-of-fold values" in text_out.output
    assert (tmp_path / "state" / "calibration" / "potential_severity.joblib").is_file()


# --------------------------------------------------------------------------- extraction applies it
def test_extraction_applies_a_matching_calibrator_to_new_rows_only(
    tmp_path: Path, server_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    backend = OpenAIBackend(LLMConfig(backend="openai", base_url=f"http://127.0.0.1:{server_port}/v1", timeout_seconds=10))
    texts, llm, labels = synthetic(40)
    cal = SeverityCalibrator().fit(texts, llm, labels)
    path = save_calibrator(tmp_path / "sev.joblib", cal, _meta(model=backend.model_name))
    factory = sqlite_db(tmp_path)
    new_text = "forklift operator fracture fracture at the conveyor belt"
    ids = add_incidents(factory, [("new", "dock", new_text), ("trained", "dock", texts[0])])
    out = extract_reports(factory, backend, ids, calibration_path=path)
    assert [o.status for o in out] == ["ok", "ok"]
    expected = cal.predict([new_text], [out[0].extraction.potential_severity])[0]  # type: ignore[union-attr]
    assert out[0].potential_severity_calibrated == pytest.approx(expected)
    assert out[1].potential_severity_calibrated is None  # the calibrator was trained on this text
    assert _calibrated(factory) == {"new": pytest.approx(expected), "trained": None}

    with session_scope(factory) as s:  # e.g. an out-of-fold value written by `floorwatch calibrate severity`
        s.execute(update(IncidentExtraction).where(IncidentExtraction.incident_id == ids[0])
                  .values(potential_severity_calibrated=2.0))
    again = extract_reports(factory, backend, ids, calibration_path=path)
    assert again[0].cached and again[0].potential_severity_calibrated == 2.0
    assert _calibrated(factory)["new"] == 2.0  # an unchanged extraction keeps its stored value

    other = save_calibrator(tmp_path / "other.joblib", cal, _meta(model="another-model"))
    more = add_incidents(factory, [("later", "dock", "ladder slip with a bruise bruise on the floor")], day=11)
    with caplog.at_level(logging.WARNING):
        late = extract_reports(factory, backend, more, calibration_path=other)
    assert late[0].status == "ok" and late[0].potential_severity_calibrated is None
    assert "another-model" in caplog.text
    assert extract_reports(factory, backend, more, calibration_path=tmp_path / "none.joblib")[0].potential_severity_calibrated is None

    broken = tmp_path / "broken.joblib"
    broken.write_bytes(b"not a joblib file")
    with pytest.raises(CalibrationError, match=f"{broken}"):
        extract_reports(factory, backend, more, calibration_path=broken)
