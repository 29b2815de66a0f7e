"""Multivariate anomaly detection for wide sensor series on a regular grid (one numeric column per channel).

Every length is counted in samples of the series' own grid (``signals.sensor_grid``), so the same
defaults serve a 1 Hz test rig and a 5-minute plant log. Method (fitted, no labels used):

1. **Fit span.** The detector is fitted on data assumed mostly normal: the leading ``fit_share`` of
   the series (or ``fit_samples`` samples), or a separate anomaly-free run of the same asset. At
   least ``min_fit_samples`` readings are required.
2. **Robust per-channel baseline.** Each channel is centred on its fit median and scaled by the
   larger of 1.4826 x MAD and 1.2533 x the mean absolute deviation (both estimate the standard
   deviation; the second stays sound when a quantised channel's readings tie at the median), giving
   robust z-scores. Channels constant in the fit span get a tiny scale, so any later change stands out.
3. **Smoothing.** A trailing rolling mean over ``smooth_samples`` removes sample noise, so the
   detector looks at sustained shifts rather than single spikes; gaps (NaN rows) are skipped.
4. **Multivariate score.** Mahalanobis distance of the smoothed z-vector under a Ledoit-Wolf
   shrunk covariance fitted on the fit span (captures correlated channels such as current/voltage).
5. **Threshold from the fitted distribution.** ``threshold = margin x quantile(fit scores, q)``.
   The fit is done twice: runs of at least ``min_duration_samples`` rows whose first-fit score is
   a Hampel outlier (above median + 3 x 1.4826 x MAD of the fit scores, Hampel 1974), with
   ``smooth_samples`` either side, are left out of the second fit, so a fault inside the fit span
   neither widens the baseline nor raises the threshold (iterative outlier removal).
6. **Drift and level shifts.** The baseline follows the rows the detector judges normal (score
   below ``accept_ratio x threshold``): a least-squares line per channel through the last
   ``drift_factor x fit length`` of them, evaluated at the next block of ``smooth_samples`` rows, so
   a healthy machine's slow drift is followed without lag; it is never extrapolated past the last
   normal row, so a fault (never judged normal) does not move it. Until a fit span's worth of normal
   rows is seen their mean is used (a short history gives a noisy slope). A run of abnormal rows
   longer than ``relearn_factor x fit length`` is taken as a new operating level: the baseline
   restarts from it, so a lasting level shift is reported once instead of to the end of the file.
7. **Intervals.** Hysteresis over observed rows: an interval opens when the score exceeds the
   threshold and closes when it falls below ``exit_ratio x threshold``; intervals fewer than
   ``merge_gap_samples`` grid steps apart are merged (a longer gap in the readings ends an interval),
   and intervals shorter than ``min_duration_samples`` steps are dropped.

Each interval carries its peak score (in threshold units) and the channels with the largest mean
absolute z-score inside it. Nothing here is tuned per file; the defaults are documented in
``AnomalyDetectorConfig`` and measured in ``benchmarks/sensors.py``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

METHOD_NAME = "robust-z + LedoitWolf Mahalanobis (leading share, Hampel-trimmed fit), drift-following baseline, hysteresis"


@dataclass(frozen=True)
class AnomalyDetectorConfig:
    """Parameters of the detector; every length is a number of samples (grid steps) of the series.

    ``fit_share`` 0.35 is SKAB's convention (the first 400 of ~1,150 points are anomaly-free) as a
    share; ``margin`` 1.5 was chosen among 1.0/1.25/1.5 on SKAB valve1 (``benchmarks/RESULTS.md``);
    ``accept_ratio`` 1.0 lets every row under the threshold feed the drift baseline.
    """

    fit_share: float = 0.35
    fit_samples: int | None = None
    min_fit_samples: int = 30
    smooth_samples: int = 10
    quantile: float = 0.99
    margin: float = 1.5
    exit_ratio: float = 0.8
    accept_ratio: float = 1.0
    drift_factor: float = 2.0
    relearn_factor: float = 1.0
    merge_gap_samples: int = 30
    min_duration_samples: int = 10
    top_channels: int = 3

    def fit_length(self, n: int) -> int:
        """Samples of the leading fit span for a series of ``n`` grid points."""
        if self.fit_samples is not None:
            return min(n, self.fit_samples)
        return min(n, max(self.min_fit_samples, int(round(self.fit_share * n))))


@dataclass
class DetectedInterval:
    """One anomalous span: positions into the series, times, peak score and leading channels."""

    start: int
    end: int
    started_at: pd.Timestamp
    ended_at: pd.Timestamp
    score: float
    channels: list[str] = field(default_factory=list)


class FitError(ValueError):
    """Too little or unusable data to fit the detector."""


@dataclass
class FittedDetector:
    """Baseline statistics learnt from the fit span."""

    config: AnomalyDetectorConfig
    channels: list[str]
    center: np.ndarray
    scale: np.ndarray
    mean: np.ndarray
    precision: np.ndarray
    threshold: float
    reference: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def zscores(self, values: pd.DataFrame) -> pd.DataFrame:
        """Robust, smoothed z-scores of ``values`` (rows on a regular grid; NaN rows are gaps)."""
        z = (values[self.channels] - self.center) / self.scale
        return z.rolling(max(self.config.smooth_samples, 1), min_periods=1).mean()

    def score(self, values: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Anomaly score per row (Mahalanobis distance; NaN where a row has no reading) and the z-scores."""
        z = self.zscores(values)
        d = np.nan_to_num(z.to_numpy() - self.mean, nan=0.0)
        s = np.sqrt(np.einsum("ij,jk,ik->i", d, self.precision, d))
        s[values[self.channels].isna().all(axis=1).to_numpy()] = np.nan
        return s, z


def _fit_once(values: pd.DataFrame, cfg: AnomalyDetectorConfig) -> FittedDetector:
    from sklearn.covariance import LedoitWolf

    clean = values.dropna(how="all")
    if len(clean) < cfg.min_fit_samples:
        raise FitError(f"only {len(clean)} readings to fit the detector on; need at least {cfg.min_fit_samples}")
    center = clean.median().to_numpy()
    dev = (clean - center).abs()
    # The larger of two consistent estimates of the standard deviation: 1.4826 x MAD, and 1.2533 x the
    # mean absolute deviation (Iglewicz & Hoaglin's fallback), which stays sound when most readings of
    # a quantised channel tie at the median and the MAD collapses towards 0.
    sigma = np.maximum(dev.median().to_numpy() * 1.4826, dev.mean().to_numpy() * 1.2533)
    tiny = np.maximum(np.abs(center) * 1e-4, 1e-9)
    scale = np.where(sigma > 0, sigma, tiny)
    proto = FittedDetector(cfg, list(values.columns), center, scale, np.zeros(len(center)), np.eye(len(center)), 0.0)
    z = np.nan_to_num(proto.zscores(values).to_numpy())[values.notna().any(axis=1).to_numpy()]
    lw = LedoitWolf().fit(z)
    proto.mean, proto.precision, proto.reference = lw.location_, lw.precision_, z
    fit_scores, _ = proto.score(values)
    proto.threshold = max(float(cfg.margin * np.nanquantile(fit_scores, cfg.quantile)), 1e-6)
    return proto


def _runs_at_least(flags: np.ndarray, length: int) -> np.ndarray:
    """``flags`` kept only where they form runs of at least ``length`` consecutive ``True``."""
    out = np.zeros_like(flags)
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        if e - s >= length:
            out[s:e] = True
    return out


def fit(values: pd.DataFrame, config: AnomalyDetectorConfig | None = None) -> FittedDetector:
    """Fit the detector on a grid frame assumed mostly normal (anomalous rows found in it are left out).

    Raises:
        FitError: fewer than ``min_fit_samples`` rows with readings.
    """
    cfg = config or AnomalyDetectorConfig()
    first = _fit_once(values, cfg)
    raw, _ = first.score(values)
    # Hampel identifier on the scores (median + 3 x 1.4826 x MAD): unlike the quantile threshold it is
    # not inflated by a fault inside the fit span. Only sustained runs are left out (a fault lasts;
    # a lone tail value of normal noise does not).
    med = float(np.nanmedian(raw))
    outlier = np.nan_to_num(raw, nan=med) > med + 3.0 * 1.4826 * float(np.nanmedian(np.abs(raw - med)))
    bad = _runs_at_least(outlier, cfg.min_duration_samples)
    if not bad.any():
        return first
    pad = max(cfg.smooth_samples, 1)
    keep = ~(np.convolve(bad.astype(float), np.ones(2 * pad + 1), mode="same") > 0)
    if values[keep].notna().any(axis=1).sum() < cfg.min_fit_samples:
        return first
    return _fit_once(values[keep], cfg)


def split_fit(values: pd.DataFrame, config: AnomalyDetectorConfig) -> pd.DataFrame:
    """The leading fit span of a grid frame (``AnomalyDetectorConfig.fit_length`` rows)."""
    return values.iloc[: config.fit_length(len(values))]


def intervals(flags_on: np.ndarray, flags_hold: np.ndarray, observed: np.ndarray, cfg: AnomalyDetectorConfig) -> list[tuple[int, int]]:
    """Hysteresis over observed rows + merging + minimum duration; returns inclusive grid index pairs."""
    rows = np.flatnonzero(observed)
    spans: list[tuple[int, int]] = []
    start: int | None = None
    prev = -1
    for i in rows:
        if start is not None and (not flags_hold[i] or i - prev > cfg.merge_gap_samples):
            spans.append((start, prev))
            start = None
        if start is None and flags_on[i]:
            start = i
        prev = i
    if start is not None:
        spans.append((start, prev))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        gap_ok = merged and s - merged[-1][1] <= cfg.merge_gap_samples
        if gap_ok and observed[merged[-1][1] : s + 1].sum() >= (s - merged[-1][1] + 1) // 2:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [(s, e) for s, e in merged if e - s + 1 >= cfg.min_duration_samples]


class _RunningLine:
    """Least-squares line per channel through the last ``window`` rows added, kept as running sums (O(1) per row)."""

    def __init__(self, window: int, channels: int) -> None:
        self.window = window
        self.rows: deque[tuple[float, np.ndarray]] = deque()
        self.sx = self.sxx = 0.0
        self.sy = np.zeros(channels)
        self.sxy = np.zeros(channels)

    def add(self, x: float, y: np.ndarray) -> None:
        self.rows.append((x, y))
        self.sx, self.sxx, self.sy, self.sxy = self.sx + x, self.sxx + x * x, self.sy + y, self.sxy + x * y
        if len(self.rows) > self.window:
            x0, y0 = self.rows.popleft()
            self.sx, self.sxx, self.sy, self.sxy = self.sx - x0, self.sxx - x0 * x0, self.sy - y0, self.sxy - x0 * y0

    def level(self, at: float, with_slope: bool) -> np.ndarray:
        """The line at ``at`` (``with_slope=False``: the mean of the rows)."""
        n = len(self.rows)
        mean_x, mean_y = self.sx / n, self.sy / n
        spread = self.sxx - n * mean_x * mean_x
        if not with_slope or spread <= 0:
            return mean_y
        return mean_y + (self.sxy - mean_x * self.sy) / spread * (at - mean_x)


def _drift_following_scores(values: pd.DataFrame, det: FittedDetector) -> tuple[np.ndarray, pd.DataFrame]:
    """Score in threshold units against a baseline that follows rows judged normal (method, step 6).

    Returns:
        Score per row (NaN where a row has no reading) and the baseline-adjusted smoothed z-scores.
    """
    cfg = det.config
    z = det.zscores(values)
    raw = np.nan_to_num(z.to_numpy())
    adjusted = np.empty_like(raw)
    observed = values[det.channels].notna().any(axis=1).to_numpy()
    window = max(int(cfg.drift_factor * len(det.reference)), cfg.min_fit_samples)
    relearn = max(int(cfg.relearn_factor * len(det.reference)), cfg.min_fit_samples)
    normal = _RunningLine(window, raw.shape[1])  # rows of this series judged normal (grid position, smoothed z)
    abnormal: deque[tuple[float, np.ndarray]] = deque(maxlen=window)
    abnormal_run = 0
    origin = det.reference.mean(axis=0)
    step = max(cfg.smooth_samples, 1)
    rel = np.full(len(raw), np.nan)
    shift = np.zeros(raw.shape[1])
    for s0 in range(0, len(raw), step):
        block = raw[s0 : s0 + step]
        adjusted[s0 : s0 + step] = block - shift
        d = block - shift - det.mean
        r = np.sqrt(np.einsum("ij,jk,ik->i", d, det.precision, d)) / det.threshold
        r[~observed[s0 : s0 + step]] = np.nan
        rel[s0 : s0 + step] = r
        for i in np.flatnonzero(~np.isnan(r)):
            if r[i] < cfg.accept_ratio:
                normal.add(float(s0 + i), block[i])
                abnormal.clear()
                abnormal_run = 0
            else:
                abnormal.append((float(s0 + i), block[i]))
                abnormal_run += 1
        if abnormal_run > relearn:  # a lasting new operating level: learn it as the baseline
            normal = _RunningLine(window, raw.shape[1])
            for x, row in abnormal:
                normal.add(x, row)
            abnormal.clear()
            abnormal_run = 0
        if len(normal.rows) >= cfg.min_fit_samples:
            # at the next block, but never extrapolated past the last normal row: a fault stops the baseline;
            # a slope only from a fit span's worth of rows (a short history gives a noisy one)
            at = min(float(s0 + step), normal.rows[-1][0] + step)
            shift = normal.level(at, with_slope=len(normal.rows) >= len(det.reference)) - origin
    return rel, pd.DataFrame(adjusted, index=z.index, columns=z.columns)


def detect(values: pd.DataFrame, detector: FittedDetector) -> tuple[list[DetectedInterval], np.ndarray]:
    """Find anomalous intervals in a grid frame.

    Returns:
        The intervals and the per-row score in threshold units (> 1 = above threshold; NaN = no reading).
    """
    rel, z = _drift_following_scores(values, detector)
    cfg = detector.config
    observed = ~np.isnan(rel)
    on = np.nan_to_num(rel) > 1.0
    hold = np.nan_to_num(rel) > cfg.exit_ratio
    found: list[DetectedInterval] = []
    times = pd.DatetimeIndex(values.index)
    for s, e in intervals(on, hold, observed, cfg):
        contrib = z.iloc[s : e + 1].abs().mean().sort_values(ascending=False)
        top = [str(c) for c in contrib.index[: cfg.top_channels] if contrib[c] > 1.0] or [str(contrib.index[0])]
        found.append(DetectedInterval(s, e, times[s], times[e], float(np.nanmax(rel[s : e + 1])), top))
    return found, rel


def point_labels(n: int, found: list[DetectedInterval]) -> np.ndarray:
    """0/1 per row: inside a detected interval."""
    out = np.zeros(n, dtype=int)
    for iv in found:
        out[iv.start : iv.end + 1] = 1
    return out
