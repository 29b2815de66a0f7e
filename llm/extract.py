"""Map step: one structured extraction (``IncidentExtraction``) per incident report.

Each report's redacted text goes into the extraction prompt as delimited data; a report that holds prompt
markup (``llm.prompts.has_prompt_markup``) is read a second time as its text before the markup, and the more severe
reading is stored (``raw["read_as"]`` says so). A reply that is not
valid JSON for the schema gets ONE repair turn (a request that got no answer is not re-sent: the HTTP backend
retries transport errors itself); a row still invalid after it is stored as ``status='failed'`` with the reason, and the batch goes on. An answer with ``injury: false`` or a
body part of "none" gets actual severity 1 (``llm.severity.no_injury_is_severity_1``: the scale's own definition). Replies are cached in
``llm_cache`` and rows are upserted on ``(incident_id, prompt_version, model)``, so a re-run is free
and idempotent.

When a severity calibrator fitted for this prompt version and model is saved (``floorwatch calibrate
severity``, :mod:`floorwatch.calibration.calibrator`), a new or changed ``ok`` row also gets
``potential_severity_calibrated``. A row whose extraction did not change keeps its stored value (so the
out-of-fold values written at calibration are never replaced by the in-sample fit), and a report the
calibrator was trained on is never given the trained model's own prediction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.calibration.calibrator import SavedCalibrator, applicable_calibrator, text_key
from floorwatch.llm.backends import LLMBackend
from floorwatch.llm.cache import cached_generate, remember
from floorwatch.llm.judge import (
    DEATH_PROBABILITY,
    JUDGE_VERSION,
    Embedder,
    Judgement,
    TokenScorer,
    class_similarities,
    judge_results,
    shares_context,
)
from floorwatch.llm.prompts import (
    EXTRACT_PROMPT_VERSION,
    extraction_request,
    has_prompt_markup,
    read_chars,
    repair_request,
    text_before_markup,
)
from floorwatch.llm.severity import certain, expected_potential, expected_severity, no_injury_is_severity_1
from floorwatch.schemas.llm import (
    ExtractionOutcome,
    IncidentExtraction,
    LLMRequest,
    LLMResult,
)
from floorwatch.schemas.tables import IncidentExtraction as ExtractionRow
from floorwatch.schemas.tables import IncidentReport
from floorwatch.storage.db import session_scope
from floorwatch.storage.upsert import upsert

_ROW_FIELDS = ("hazard_category", "severity", "potential_severity", "injury", "body_part", "equipment", "causes", "controls")


def extract_batch(
    session: Session,
    backend: LLMBackend,
    reports: Sequence[IncidentReport],
    *,
    max_chars: int = 4000,
    prompt_version: str = EXTRACT_PROMPT_VERSION,
    calibration: SavedCalibrator | None = None,
    judge: TokenScorer | None = None,
    second_opinion: Embedder | None = None,
) -> list[ExtractionOutcome]:
    """Extract and store one batch of reports (one ``generate_json`` call, plus one for repairs).

    ``judge``: when given, hazard class and severities come from the model's token probabilities
    (:func:`floorwatch.llm.judge.judge_results`); pass a ``prompt_version`` that says so. Each row's
    ``raw["judge"]`` keeps the judgement (class probability, P(Yes) per question, the generated JSON's
    own class and severities, and the ``second_opinion`` embedding class when an embedder is given).

    ``calibration`` (already checked to fit this prompt version and model) fills
    ``potential_severity_calibrated`` of new or changed ``ok`` rows. The caller commits. Returns one
    outcome per report, in order.
    """
    # A report holding prompt markup is also read as its text before the markup; the more severe reading is kept.
    second = [(i, text_before_markup(r.redacted_text)) for i, r in enumerate(reports) if has_prompt_markup(r.redacted_text)]
    second = [(i, t) for i, t in second if t]
    texts = [r.redacted_text for r in reports] + [t for _, t in second]
    requests = [extraction_request(str(r.id), r.redacted_text, max_chars) for r in reports] + [
        extraction_request(f"{reports[i].id}:before-markup", t, max_chars) for i, t in second
    ]
    if judge is not None and shares_context(judge, backend):
        generated, results, judged = _extract_then_judge(
            session, backend, requests, texts, prompt_version, judge, second_opinion, max_chars
        )
    else:
        generated = _repair(
            session, backend, requests, cached_generate(session, backend, requests, IncidentExtraction, prompt_version), prompt_version
        )
        results = [no_injury_is_severity_1(r) for r in generated]
        judged: list[Judgement | None] = [None] * len(results)
        if judge is not None:
            results, judged = judge_results(judge, texts, results, second_opinion, max_chars=max_chars)
    died = died_on_either_reading(len(reports), second, judged)
    before_markup = _keep_the_more_severe(len(reports), second, generated, results, judged)
    rows = [
        _row(rep, req, res, backend.model_name, prompt_version, max_chars)
        for rep, req, res in zip(reports, requests[: len(reports)], results, strict=True)
    ]
    for i in before_markup:
        rows[i]["raw"]["read_as"] = "the text before its prompt markup or words addressed to the model: the more severe of the two readings"
    for row, p_died in zip(rows, died, strict=True):
        row["raw"]["stated_death"] = p_died >= DEATH_PROBABILITY
    for row, j, gen in zip(rows, judged, generated, strict=True):
        if j is not None and gen.parsed is not None:
            row["raw"]["judge"] = j.model_dump() | {
                "disagreement": j.disagreement,
                "generated": gen.parsed.model_dump(include={"hazard_category", "severity", "potential_severity"}),
            }
    before = _stored(session, [r.id for r in reports], backend.model_name, prompt_version)
    calibrated = _calibrated_values(reports, rows, before, calibration)
    for rep, row in zip(reports, rows, strict=True):
        row["potential_severity_calibrated"] = calibrated[rep.id]
    upsert(
        session,
        ExtractionRow,
        rows,
        key=["incident_id", "prompt_version", "model"],
        update=[c for c in rows[0] if c not in ("incident_id", "prompt_version", "model")] if rows else None,
    )
    return [
        ExtractionOutcome(
            incident_id=rep.id,
            source_id=rep.source_id,
            zone_id=rep.zone_id,
            status="ok" if res.parsed else "failed",
            error=None if res.parsed else res.error,
            extraction=res.parsed,
            prompt_markup=row["raw"]["prompt_markup"],
            potential_severity_calibrated=calibrated.get(rep.id),
            severity_expected=row["severity_expected"],
            potential_severity_expected=row["potential_severity_expected"],
            cached=res.cached,
            seconds=res.seconds,
        )
        for rep, res, row in zip(reports, results, rows, strict=True)
    ]


def died_on_either_reading(n: int, second: list[tuple[int, str]], judged: list[Judgement | None]) -> list[float]:
    """Per report (the first ``n`` entries), the judge's P(Yes) to "Did someone die?", the larger of its two readings
    where it was read twice (``judged[n:]``, one per ``second`` entry); 0 where no judge ran. A stated death is this
    >= ``DEATH_PROBABILITY``, never the JSON's digit 5 (the 1.5B model writes 5 for non-fatal injuries: 8 of the
    development file's 285 rows, none fatal)."""
    died = [j.died if j is not None else 0.0 for j in judged]
    for k, (i, _) in enumerate(second):
        died[i] = max(died[i], died[n + k])
    return died[:n]


def _severity(res: LLMResult[IncidentExtraction]) -> tuple[int, int]:
    return (res.parsed.potential_severity, res.parsed.severity) if res.parsed else (0, 0)


def _keep_the_more_severe(
    n: int,
    second: list[tuple[int, str]],
    generated: list[LLMResult[IncidentExtraction]],
    results: list[LLMResult[IncidentExtraction]],
    judged: list[Judgement | None],
) -> set[int]:
    """Fold the second readings (``results[n:]``, one per ``second`` entry) into their reports' places where they
    are more severe (potential, then actual; fail-safe: an injected instruction mostly asks for less), and cut the
    lists back to ``n``. Returns the report positions whose stored reading is the text before the markup."""
    chosen = set()
    for k, (i, _) in enumerate(second):
        j = n + k
        if results[j].parsed is not None and _severity(results[j]) > _severity(results[i]):
            results[i] = results[j].model_copy(update={"id": results[i].id})
            generated[i], judged[i] = generated[j], judged[j]
            chosen.add(i)
    del generated[n:], results[n:], judged[n:]
    return chosen


def _extract_then_judge(  # noqa: PLR0913 - the batch's parts, passed through
    session: Session,
    backend: LLMBackend,
    requests: list[LLMRequest],
    texts: list[str],
    prompt_version: str,
    judge: TokenScorer,
    second_opinion: Embedder | None,
    max_chars: int,
) -> tuple[list[LLMResult[IncidentExtraction]], list[LLMResult[IncidentExtraction]], list[Judgement | None]]:
    """Each report extracted and at once judged on the same llama.cpp context: the judge's questions continue the
    extraction prompt, so the report is evaluated once (``judge.shares_context``). Returns (generated, judged
    results, judgements), in order."""
    sims = class_similarities(second_opinion, texts) if second_opinion is not None else [None] * len(texts)
    generated: list[LLMResult[IncidentExtraction]] = []
    results: list[LLMResult[IncidentExtraction]] = []
    judged: list[Judgement | None] = []
    for req, text, sim in zip(requests, texts, sims, strict=True):
        one = _repair(session, backend, [req], cached_generate(session, backend, [req], IncidentExtraction, prompt_version), prompt_version)
        generated += one
        res, notes = judge_results(
            judge, [text], [no_injury_is_severity_1(r) for r in one], second_opinion, max_chars=max_chars, similarities=[sim]
        )
        results += res
        judged += notes
    return generated, results, judged


class _Stored(NamedTuple):
    input_hash: str
    status: str
    potential_severity: int | None
    calibrated: float | None


def _stored(session: Session, ids: list[int], model: str, version: str) -> dict[int, _Stored]:
    """The rows of this prompt version and model as they were before this batch's upsert."""
    if not ids:
        return {}
    stmt = select(
        ExtractionRow.incident_id, ExtractionRow.input_hash, ExtractionRow.status,
        ExtractionRow.potential_severity, ExtractionRow.potential_severity_calibrated,
    ).where(ExtractionRow.incident_id.in_(ids), ExtractionRow.prompt_version == version, ExtractionRow.model == model)
    return {iid: _Stored(*rest) for iid, *rest in session.execute(stmt)}


def _calibrated_values(
    reports: Sequence[IncidentReport],
    rows: list[dict[str, Any]],
    before: dict[int, _Stored],
    calibration: SavedCalibrator | None,
) -> dict[int, float | None]:
    """Each row's ``potential_severity_calibrated``: the stored value of an unchanged row, a prediction for a
    new/changed ``ok`` row the calibrator was not trained on, else None (a changed row loses its stale value)."""
    values: dict[int, float | None] = {}
    predict: list[tuple[IncidentReport, dict[str, Any]]] = []
    for rep, row in zip(reports, rows, strict=True):
        old = before.get(rep.id)
        unchanged = old is not None and (old.input_hash, old.status, old.potential_severity) == (
            row["input_hash"], row["status"], row["potential_severity"])
        if old is not None and unchanged and (old.calibrated is not None or calibration is None):
            values[rep.id] = old.calibrated
            continue
        values[rep.id] = None
        if row["status"] == "ok" and calibration is not None and (
            text_key(rep.redacted_text) not in calibration.calibrator.trained_on
        ):
            predict.append((rep, row))
    if predict and calibration is not None:
        texts = [rep.redacted_text for rep, _ in predict]
        pred = calibration.calibrator.predict(texts, [row["potential_severity"] for _, row in predict])
        values |= {rep.id: float(v) for (rep, _), v in zip(predict, pred, strict=True)}
    return values


def _repair(
    session: Session,
    backend: LLMBackend,
    requests: list[LLMRequest],
    results: list[LLMResult[IncidentExtraction]],
    prompt_version: str,
) -> list[LLMResult[IncidentExtraction]]:
    """One repair turn for every row the model answered badly: the bad answer and its error go back to it.

    A row with no answer at all (the server unreachable or refusing after the backend's own retries, a prompt
    over the context) is not sent again: the same request would fail the same way.
    """
    failed = [i for i, r in enumerate(results) if r.parsed is None and r.raw]
    if not failed:
        return results
    retry = [repair_request(requests[i], results[i].raw, results[i].error or "invalid") for i in failed]
    again = cached_generate(session, backend, retry, IncidentExtraction, prompt_version)
    out = list(results)
    for i, res in zip(failed, again, strict=True):
        if res.parsed is None:
            res = res.model_copy(update={"error": f"after one repair retry: {res.error} (first: {results[i].error})"})
        else:  # a re-run of the original prompt then hits the cache too
            remember(session, backend, requests[i], IncidentExtraction, res, prompt_version)
        res = res.model_copy(update={"seconds": res.seconds + results[i].seconds})
        out[i] = res
    return out


def _row(  # noqa: PLR0913 - one report's parts
    rep: IncidentReport, req: LLMRequest, res: LLMResult[IncidentExtraction], model: str, version: str, max_chars: int
) -> dict:
    input_hash = hashlib.sha256("\n".join(m.content for m in req.messages).encode()).hexdigest()
    row: dict = {
        "incident_id": rep.id,
        "prompt_version": version,
        "model": model,
        "input_hash": input_hash,
        "status": "ok" if res.parsed else "failed",
        "error": None if res.parsed else (res.error or "unknown error")[:2000],
        # read_chars: how much of a report longer than max_chars the model was shown (None: all of it)
        # prompt_markup: the report holds prompt delimiters / chat tokens (defused, but shown as one to check)
        "raw": {
            "text": res.raw[:4000], "cached": res.cached, "read_chars": read_chars(rep.redacted_text, max_chars),
            "prompt_markup": has_prompt_markup(rep.redacted_text),
        },
        "seconds": res.seconds,
        "zone_hint": res.parsed.zone if res.parsed else None,
    }
    for f in _ROW_FIELDS:
        row[f] = getattr(res.parsed, f) if res.parsed else ([] if f in ("causes", "controls") else None)
    # probability-weighted, where the backend gave probabilities; the potential never below the actual (its
    # digit, where the actual's distribution is missing)
    actual = res.probes.get("severity")
    row["severity_expected"] = expected_severity(actual) if res.parsed else None
    if res.parsed is not None and row["severity_expected"] is None:
        actual = certain(res.parsed.severity)
    row["potential_severity_expected"] = (
        expected_potential(actual, res.probes.get("potential_severity")) if res.parsed else None
    )
    return row


def extract_reports(
    factory: sessionmaker[Session],
    backend: LLMBackend,
    report_ids: Sequence[int],
    *,
    batch_size: int = 8,
    max_chars: int = 4000,
    calibration_path: Path | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    judge: TokenScorer | None = None,
    second_opinion: Embedder | None = None,
) -> list[ExtractionOutcome]:
    """Extract many reports, committing after each batch so an interruption loses at most one batch.

    ``on_progress(done, total)`` is called after each committed batch (``floorwatch.progress``).

    Args:
        factory: sessionmaker of the shared database.
        backend: the LLM backend.
        report_ids: ``incident_reports.id`` values, in the order wanted.
        batch_size: reports per ``generate_json`` call (vLLM benefits from large batches).
        max_chars: cap of the report text in the prompt.
        calibration_path: saved severity calibrator (default ``<state dir>/calibration/potential_severity.joblib``);
            used when it exists and was fitted for this prompt version and model.
        judge: token-probability scorer (``floorwatch.llm.judge.scorer_for``) for hazard class and
            severities; the rows are then stored under ``<extract version>+<judge version>``.
        second_opinion: sentence embedder whose class distributions (of the report, and of the answer's equipment and
            causes) are multiplied with the judge's (``judge.combine_opinions``).

    Raises:
        CalibrationError: a calibrator file exists but is unreadable (before any LLM call).
    """
    version = f"{EXTRACT_PROMPT_VERSION}+{JUDGE_VERSION}" if judge is not None else EXTRACT_PROMPT_VERSION
    calibration = applicable_calibrator(calibration_path, version, backend.model_name)
    outcomes: list[ExtractionOutcome] = []
    for i in range(0, len(report_ids), batch_size):
        chunk = list(report_ids[i : i + batch_size])
        with session_scope(factory) as session:
            by_id = {r.id: r for r in session.query(IncidentReport).filter(IncidentReport.id.in_(chunk))}
            reports = [by_id[x] for x in chunk if x in by_id]
            outcomes += extract_batch(
                session, backend, reports, max_chars=max_chars, prompt_version=version, calibration=calibration, judge=judge,
                second_opinion=second_opinion,
            )
        if on_progress is not None:
            on_progress(min(i + batch_size, len(report_ids)), len(report_ids))
    return outcomes
