"""Per-site severity calibrator: the site's own labelled incident history corrects the LLM's guess.

The local LLM's ``potential_severity`` (1-5) ranks reports only loosely against a site's own
"potential accident level" labels. A site that has labelled history can fit two small stages:

* stage 1: TF-IDF (word 1-2 grams, ``min_df=2``, sublinear tf) + ``RidgeCV`` on the redacted report
  text -> label;
* stage 2: ``LinearRegression(positive=True)`` on ``[LLM potential_severity, stage-1 prediction]``
  -> label. Stage 2 is fitted on OUT-OF-FOLD stage-1 predictions, so it is not fooled by stage 1's
  in-sample fit (which is near perfect on the training texts).

Predictions are clipped to ``[1, 5]``. :func:`cross_fit` gives, for every training row, a value from
a model that never saw that row (nested: each outer fold fits both stages on the other folds), plus
the Spearman correlations that say whether the calibration helps. Nothing here knows the database;
see :mod:`floorwatch.calibration.store`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import joblib
import numpy as np
from pydantic import BaseModel, Field
from scipy.stats import spearmanr
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

from floorwatch.runtime import default_state_dir

log = logging.getLogger(__name__)

MIN_ROWS = 30
FILE_FORMAT = 1
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}
Values = Sequence[float | None] | np.ndarray
_ALPHAS = tuple(float(a) for a in np.logspace(-2, 3, 11))


class CalibrationError(ValueError):
    """Too few labelled rows, a bad label, or an unreadable calibrator file (the message names it)."""


def default_calibration_path() -> Path:
    """``<state dir>/calibration/potential_severity.joblib`` (state dir: ``$FLOORWATCH_STATE_DIR`` or ``./var``)."""
    return default_state_dir() / "calibration" / "potential_severity.joblib"


def parse_severity_label(value: object, source_id: str) -> int:
    """A label (roman ``I``-``VI`` or integer ``1``-``6``) on the 1-5 scale; ``VI``/``6`` become 5.

    Raises:
        CalibrationError: the value is neither, naming ``source_id`` and the value.
    """
    text = str(value).strip().upper() if value is not None else ""
    level = _ROMAN.get(text)
    if level is None and text.isdigit() and 1 <= int(text) <= 6:
        level = int(text)
    if level is None:
        raise CalibrationError(
            f"incident {source_id!r}: severity label {value!r} is not I-VI or 1-6"
        )
    return min(level, 5)


def text_key(text: str) -> str:
    """Stable key of a report text: the calibrator remembers which texts it was trained on."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text_model() -> Pipeline:
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        RidgeCV(alphas=_ALPHAS),
    )


def _floats(values: Values) -> np.ndarray:
    """LLM values as floats, ``None`` (not extracted) as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _arrays(texts: Sequence[str], llm_values: Values, labels: Values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not len(texts) == len(llm_values) == len(labels):
        raise ValueError(f"lengths differ: {len(texts)} texts, {len(llm_values)} LLM values, {len(labels)} labels")
    return np.asarray(texts, dtype=object), _floats(llm_values), np.asarray(labels, dtype=float)


def _check(llm: np.ndarray) -> None:
    with_llm = int(np.isfinite(llm).sum())
    if len(llm) < MIN_ROWS or with_llm < MIN_ROWS:
        raise CalibrationError(
            f"{len(llm)} labelled reports, {with_llm} of them with an LLM potential_severity: the severity "
            f"calibrator needs at least {MIN_ROWS} of each (with fewer, cross-validated figures mean nothing)"
        )


class SeverityCalibrator:
    """Two-stage calibrator (text regressor, then a non-negative blend with the LLM value).

    Stage 1 learns from every labelled report; stage 2 only from those with an LLM value (``None`` or
    NaN marks a report not extracted yet), so a site with a long labelled history and few extracted
    reports still gets a text model trained on all of it.
    """

    def __init__(self, folds: int = 5, seed: int = 0) -> None:
        self.folds = folds
        self.seed = seed
        self.text_model: Pipeline | None = None
        self.blend: LinearRegression | None = None
        self.trained_on: frozenset[str] = frozenset()

    def fit(self, texts: Sequence[str], llm_values: Values, labels: Values, *, check: bool = True) -> SeverityCalibrator:
        """Fit both stages; stage 2 sees only out-of-fold stage-1 predictions.

        Raises:
            CalibrationError: fewer than ``MIN_ROWS`` labelled reports or LLM values (unless ``check`` is False,
                as for the folds inside :func:`cross_fit`).
        """
        x_text, llm, y = _arrays(texts, llm_values, labels)
        if check:
            _check(llm)
        with threadpool_limits(1):  # small matrices: a multi-threaded BLAS is ~100x slower on a busy machine
            return self._fit(x_text, llm, y)

    def _fit(self, x_text: np.ndarray, llm: np.ndarray, y: np.ndarray) -> SeverityCalibrator:
        oof = np.empty(len(y))
        for train, test in KFold(self.folds, shuffle=True, random_state=self.seed).split(x_text):
            oof[test] = _text_model().fit(x_text[train], y[train]).predict(x_text[test])
        has = np.isfinite(llm)
        self.blend = LinearRegression(positive=True).fit(np.column_stack([llm[has], oof[has]]), y[has])
        self.text_model = _text_model().fit(x_text, y)
        self.trained_on = frozenset(text_key(t) for t in x_text)
        return self

    def predict_text(self, texts: Sequence[str]) -> np.ndarray:
        """Stage-1 (text only) prediction, clipped to [1, 5]."""
        if self.text_model is None:
            raise RuntimeError("SeverityCalibrator is not fitted")
        return np.clip(self.text_model.predict(np.asarray(texts, dtype=object)), 1.0, 5.0)

    def predict(self, texts: Sequence[str], llm_values: Values) -> np.ndarray:
        """Calibrated potential severity in [1, 5] for each (text, LLM value); NaN where the LLM value is missing."""
        if self.text_model is None or self.blend is None:
            raise RuntimeError("SeverityCalibrator is not fitted")
        if len(texts) == 0:
            return np.empty(0)
        stage1 = self.text_model.predict(np.asarray(texts, dtype=object))
        llm = _floats(llm_values)
        out = np.full(len(llm), np.nan)
        has = np.isfinite(llm)
        if has.any():
            out[has] = np.clip(self.blend.predict(np.column_stack([llm[has], stage1[has]])), 1.0, 5.0)
        return out

    @property
    def weights(self) -> dict[str, float]:
        """Stage-2 coefficients: ``llm``, ``text`` (both >= 0) and ``intercept``."""
        if self.blend is None:
            raise RuntimeError("SeverityCalibrator is not fitted")
        coef = self.blend.coef_
        return {"llm": float(coef[0]), "text": float(coef[1]), "intercept": float(self.blend.intercept_)}


class CalibrationMetrics(BaseModel):
    """How well each predictor ranks the labels (Spearman; ``None`` when a predictor is constant).

    ``spearman_llm``, ``spearman_text_on_llm_rows`` and ``spearman_blend`` are over the same ``n``
    reports (those with an LLM value), so they compare directly.
    """

    n: int = Field(description="Labelled reports with an LLM value (stage 2 and the compared figures)")
    n_text: int = Field(description="Labelled reports in all (stage 1)")
    folds: int
    seed: int
    spearman_llm: float | None = Field(description="LLM potential_severity alone (no fitting involved)")
    spearman_text: float | None = Field(description="Stage 1 (text regressor) out-of-fold, all n_text reports")
    spearman_text_on_llm_rows: float | None = Field(description="Stage 1 out-of-fold, the n reports only")
    spearman_blend: float | None = Field(description="Calibrated value out-of-fold")
    mae_llm: float = Field(description="Mean absolute error of the LLM value against the label")
    mae_blend: float = Field(description="Mean absolute error of the out-of-fold calibrated value")
    weights: dict[str, float] = Field(description="Stage-2 weights of the model fitted on all rows")


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


@dataclass(frozen=True)
class CrossFit:
    """Out-of-fold values for every training row, their metrics, and the model fitted on all rows.

    ``calibrated`` is NaN where a report has no LLM value; ``text_only`` is set for every report.
    """

    calibrated: np.ndarray
    text_only: np.ndarray
    metrics: CalibrationMetrics
    calibrator: SeverityCalibrator


def cross_fit(
    texts: Sequence[str], llm_values: Values, labels: Values, folds: int = 5, seed: int = 0
) -> CrossFit:
    """Out-of-fold calibrated values (each row predicted by a model that never saw it) and metrics.

    Each outer fold fits a whole :class:`SeverityCalibrator` (both stages, with its own inner folds)
    on the other folds. The returned ``calibrator`` is then fitted on all rows, for new reports.

    Args:
        texts: redacted report texts of the labelled reports.
        llm_values: the LLM's potential_severity per report (None/NaN: not extracted).
        labels: labels on the 1-5 scale (:func:`parse_severity_label`).
        folds: K of the K-fold split (outer and inner).
        seed: shuffle seed of the folds.

    Raises:
        CalibrationError: fewer than ``MIN_ROWS`` labelled reports or LLM values.
    """
    x_text, llm, y = _arrays(texts, llm_values, labels)
    _check(llm)
    calibrated = np.full(len(y), np.nan)
    text_only = np.empty(len(y))
    with threadpool_limits(1):
        for train, test in KFold(folds, shuffle=True, random_state=seed).split(x_text):
            model = SeverityCalibrator(folds, seed).fit(list(x_text[train]), llm[train], y[train], check=False)
            calibrated[test] = model.predict(list(x_text[test]), llm[test])
            text_only[test] = model.predict_text(list(x_text[test]))
    final = SeverityCalibrator(folds, seed).fit(list(x_text), llm, y, check=False)  # checked above
    has = np.isfinite(llm)
    metrics = CalibrationMetrics(
        n=int(has.sum()),
        n_text=len(y),
        folds=folds,
        seed=seed,
        spearman_llm=_spearman(llm[has], y[has]),
        spearman_text=_spearman(text_only, y),
        spearman_text_on_llm_rows=_spearman(text_only[has], y[has]),
        spearman_blend=_spearman(calibrated[has], y[has]),
        mae_llm=float(np.mean(np.abs(llm[has] - y[has]))),
        mae_blend=float(np.mean(np.abs(calibrated[has] - y[has]))),
        weights=final.weights,
    )
    return CrossFit(calibrated=calibrated, text_only=text_only, metrics=metrics, calibrator=final)


class CalibrationMeta(BaseModel):
    """What a saved calibrator was fitted on; it applies only to extractions of the same prompt and model."""

    fitted_at: datetime
    n_rows: int = Field(description="Labelled reports with an LLM value (stage 2)")
    n_text_rows: int = Field(description="Labelled reports in all (stage 1)")
    label_column: str
    prompt_version: str
    model: str
    metrics: CalibrationMetrics


@dataclass(frozen=True)
class SavedCalibrator:
    calibrator: SeverityCalibrator
    meta: CalibrationMeta

    def applies_to(self, prompt_version: str, model: str) -> bool:
        return self.meta.prompt_version == prompt_version and self.meta.model == model


def save_calibrator(path: Path, calibrator: SeverityCalibrator, meta: CalibrationMeta) -> Path:
    """Write the calibrator and its metadata with joblib (atomically: a temp file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        joblib.dump({"format": FILE_FORMAT, "calibrator": calibrator, "meta": meta.model_dump(mode="json")}, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_calibrator(path: Path) -> SavedCalibrator:
    """Read a file written by :func:`save_calibrator`.

    Raises:
        CalibrationError: missing, unreadable, corrupt or not a Floorwatch calibrator (names the path).
    """
    try:
        data = joblib.load(path)
    except FileNotFoundError as exc:
        raise CalibrationError(f"severity calibrator {path}: file not found") from exc
    except Exception as exc:  # noqa: BLE001 - pickle/zlib/EOF errors all mean an unusable file
        raise CalibrationError(f"severity calibrator {path} is unreadable or corrupt ({type(exc).__name__}: {exc}); "
                               "delete it or run `floorwatch calibrate severity` again") from exc
    if not (isinstance(data, dict) and data.get("format") == FILE_FORMAT
            and isinstance(data.get("calibrator"), SeverityCalibrator)):
        raise CalibrationError(f"severity calibrator {path} is not a Floorwatch calibrator file (format {FILE_FORMAT})")
    try:
        meta = CalibrationMeta.model_validate(data["meta"])
    except ValueError as exc:
        raise CalibrationError(f"severity calibrator {path}: bad metadata: {exc}") from exc
    return SavedCalibrator(calibrator=data["calibrator"], meta=meta)


_cache: dict[Path, tuple[tuple[int, int], SavedCalibrator]] = {}


def applicable_calibrator(path: Path | None, prompt_version: str, model: str) -> SavedCalibrator | None:
    """The calibrator at ``path`` (default path when None) if it exists and fits this prompt and model.

    Absent file: None. A calibrator of another prompt version or model: None and a logged warning.
    The loaded file is cached until it changes on disk.

    Raises:
        CalibrationError: the file exists but cannot be used.
    """
    path = (path or default_calibration_path()).resolve()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    stamp = (stat.st_mtime_ns, stat.st_size)
    hit = _cache.get(path)
    saved = hit[1] if hit and hit[0] == stamp else load_calibrator(path)
    _cache[path] = (stamp, saved)
    if not saved.applies_to(prompt_version, model):
        log.warning(
            "severity calibrator %s was fitted for prompt %s / model %s, not %s / %s: ignored "
            "(run `floorwatch calibrate severity` again)",
            path, saved.meta.prompt_version, saved.meta.model, prompt_version, model,
        )
        return None
    return saved
