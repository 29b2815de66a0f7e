"""Fit the severity calibrator on the labelled incident history stored in the shared database.

Used by ``floorwatch calibrate severity`` and the incident benchmark. Every report whose attributes
hold the label trains the text stage. Which extractions count for the blend: the ``ok`` rows with a
``potential_severity`` of ONE (prompt version, model) pair, since a calibrator learns that pair's habits. By default the pair with the most labelled ``ok`` rows is chosen (ties:
the pair with the newest extraction), because that is the history the site actually has; pass
``prompt_version``/``model`` to choose. The unique key ``(incident_id, prompt_version, model)``
leaves one row per report for that pair.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from floorwatch.calibration.calibrator import (
    CalibrationError,
    CalibrationMeta,
    CalibrationMetrics,
    cross_fit,
    parse_severity_label,
    save_calibrator,
)
from floorwatch.schemas.tables import IncidentExtraction, IncidentReport


class CalibrationResult(BaseModel):
    """What ``calibrate_stored`` fitted, stored and saved."""

    meta: CalibrationMeta
    metrics: CalibrationMetrics
    rows_out_of_fold: int
    rows_unlabelled: int
    path: str | None = None


def _label(attrs: dict | None, column: str) -> object | None:
    value = (attrs or {}).get(column)
    return None if value is None or str(value).strip() == "" else value


def _ok_extractions(session: Session) -> list[IncidentExtraction]:
    stmt = (
        select(IncidentExtraction)
        .where(IncidentExtraction.status == "ok", IncidentExtraction.potential_severity.is_not(None))
        .order_by(IncidentExtraction.incident_id)
    )
    return list(session.scalars(stmt))


def _choose_pair(
    extractions: list[IncidentExtraction], labelled_ids: set[int], label_column: str,
    prompt_version: str | None, model: str | None,
) -> tuple[str, str]:
    labelled = [
        ex for ex in extractions
        if ex.incident_id in labelled_ids and prompt_version in (None, ex.prompt_version) and model in (None, ex.model)
    ]
    if not labelled:
        wanted = f" for prompt {prompt_version or 'any'} / model {model or 'any'}" if prompt_version or model else ""
        raise CalibrationError(
            f"no incident report has both a {label_column!r} value ({len(labelled_ids)} have one) and an ok "
            f"extraction{wanted}: ingest labelled reports and run `floorwatch report` (the extraction) first"
        )
    counts = Counter((ex.prompt_version, ex.model) for ex in labelled)
    newest: dict[tuple[str, str], datetime] = {}
    for ex in labelled:
        key = (ex.prompt_version, ex.model)
        newest[key] = max(newest.get(key, ex.created_at), ex.created_at)
    return max(counts, key=lambda k: (counts[k], newest[k]))


def calibrate_stored(
    session: Session,
    label_column: str,
    *,
    out: Path | None = None,
    prompt_version: str | None = None,
    model: str | None = None,
    folds: int = 5,
    seed: int = 0,
) -> CalibrationResult:
    """Fit on the stored labelled history; store calibrated values; optionally save the calibrator.

    Stage 1 (text) learns from every report with a label; stage 2 from those that also have an ``ok``
    extraction of the chosen pair. Those extraction rows get their OUT-OF-FOLD value (from a model
    that never saw the report); unlabelled ``ok`` rows of the pair get the value of the model fitted
    on all labelled reports. Nothing is written before every label has parsed and the fit has
    succeeded; the caller commits (one transaction), and a failed save of ``out`` raises before that.

    Args:
        session: open session on the shared database.
        label_column: key in ``IncidentReport.attributes`` holding the label (I-VI or 1-6).
        out: where to save the calibrator (None: do not save).
        prompt_version: extraction prompt version to use (default: see the module docstring).
        model: extraction model to use (default: see the module docstring).
        folds: K of the K-fold cross-fitting.
        seed: shuffle seed of the folds.

    Raises:
        CalibrationError: no or fewer than 30 labelled (extracted) reports, or a bad label (names the report).
    """
    reports = list(session.scalars(select(IncidentReport).order_by(IncidentReport.id)))
    labelled = [r for r in reports if _label(r.attributes, label_column) is not None]
    extractions = _ok_extractions(session)
    pv, mdl = _choose_pair(extractions, {r.id for r in labelled}, label_column, prompt_version, model)
    by_report = {ex.incident_id: ex for ex in extractions if (ex.prompt_version, ex.model) == (pv, mdl)}
    labels = [parse_severity_label(_label(r.attributes, label_column), r.source_id) for r in labelled]
    llm = [by_report[r.id].potential_severity if r.id in by_report else None for r in labelled]
    fit = cross_fit([r.redacted_text for r in labelled], llm, labels, folds, seed)
    values = [
        {"id": by_report[r.id].id, "potential_severity_calibrated": float(v)}
        for r, v in zip(labelled, fit.calibrated, strict=True) if r.id in by_report
    ]
    labelled_ids = {r.id for r in labelled}
    rest = [(r, by_report[r.id]) for r in reports if r.id in by_report and r.id not in labelled_ids]
    if rest:
        new = fit.calibrator.predict([r.redacted_text for r, _ in rest], [ex.potential_severity for _, ex in rest])
        values += [{"id": ex.id, "potential_severity_calibrated": float(v)} for (_, ex), v in zip(rest, new, strict=True)]
    session.execute(update(IncidentExtraction), values)
    meta = CalibrationMeta(
        fitted_at=datetime.now(UTC), n_rows=fit.metrics.n, n_text_rows=fit.metrics.n_text, label_column=label_column,
        prompt_version=pv, model=mdl, metrics=fit.metrics,
    )
    if out is not None:
        save_calibrator(out, fit.calibrator, meta)
    return CalibrationResult(
        meta=meta, metrics=fit.metrics, rows_out_of_fold=fit.metrics.n, rows_unlabelled=len(rest),
        path=str(out) if out is not None else None,
    )
