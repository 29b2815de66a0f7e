"""Multivariate anomaly detection for wide sensor series (one numeric column per channel).

Method (fitted, no labels used):

1. **Fit span.** The detector is fitted on data assumed normal: the first ``fit_seconds`` of the
   file (default 400 s, the convention of the SKAB baselines) or a separate anomaly-free run of the
   same asset. At least ``min_fit_samples`` readings are required.
2. **Robust per-channel baseline.** Each channel is centred on its fit median and scaled by
   1.4826 x MAD (the standard deviation when the MAD is 0, e.g. quantised channels), giving robust
   z-scores. Channels constant in the fit span get a tiny scale, so any later change stands out.
3. **Smoothing.** A trailing (causal) rolling mean over ``smooth_seconds`` removes sample noise, so
   the detector looks at sustained shifts rather than single spikes; the same smoothing is applied
   to the fit span.
4. **Multivariate score.** Mahalanobis distance of the smoothed z-vector under a Ledoit-Wolf
   shrunk covariance fitted on the fit span (captures correlated channels such as current/voltage).
5. **Threshold from the fitted distribution.** ``threshold = margin x quantile(fit scores, q)``.
6. **Intervals.** Hysteresis: an interval opens when the score exceeds the threshold and closes
   when it falls below ``exit_ratio x threshold``; gaps shorter than ``merge_gap_seconds`` are
   merged and intervals shorter than ``min_duration_seconds`` are dropped.

Each interval carries its peak score (in threshold units) and the channels with the largest mean
absolute z-score inside it. Nothing here is tuned per file; the defaults are documented in
``AnomalyDetectorConfig`` and measured in ``benchmarks/sensors.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.covariance import LedoitWolf

METHOD_NAME = "robust-z + LedoitWolf Mahalanobis (fit span), hysteresis"


@dataclass(frozen=True)
class AnomalyDetectorConfig:
    """Parameters of the detector (all in seconds of the series' own clock)."""

    fit_seconds: float = 400.0
    min_fit_samples: int = 30
    smooth_seconds: float = 10.0
    quantile: float = 0.99
    margin: float = 1.5
    exit_ratio: float = 0.8
    merge_gap_seconds: float = 30.0
    min_duration_seconds: float = 10.0
    top_channels: int = 3


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

    def zscores(self, values: pd.DataFrame) -> pd.DataFrame:
        """Robust, smoothed z-scores of ``values`` (a time-indexed frame with the fitted channels)."""
        z = (values[self.channels] - self.center) / self.scale
        window = f"{max(self.config.smooth_seconds, 1e-3)}s"
        return z.rolling(window, min_periods=1).mean()

    def score(self, values: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """Anomaly score per row (Mahalanobis distance) and the smoothed z-scores."""
        z = self.zscores(values)
        d = z.to_numpy() - self.mean
        d = np.nan_to_num(d, nan=0.0)
        return np.sqrt(np.einsum("ij,jk,ik->i", d, self.precision, d)), z


def fit(values: pd.DataFrame, config: AnomalyDetectorConfig | None = None) -> FittedDetector:
    """Fit the detector on a time-indexed frame assumed normal (all of it is used).

    Raises:
        FitError: fewer than ``min_fit_samples`` rows.
    """
    cfg = config or AnomalyDetectorConfig()
    clean = values.dropna(how="all")
    if len(clean) < cfg.min_fit_samples:
        raise FitError(f"only {len(clean)} readings to fit the detector on; need at least {cfg.min_fit_samples}")
    center = clean.median().to_numpy()
    # scale="normal": 1.4826 x MAD, the standard deviation of a normal channel (scipy.stats).
    mad = stats.median_abs_deviation(clean.to_numpy(float), axis=0, scale="normal", nan_policy="omit")
    std = clean.std().fillna(0).to_numpy()
    tiny = np.maximum(np.abs(center) * 1e-4, 1e-9)
    scale = np.where(mad > 0, mad, np.where(std > 0, std, tiny))
    proto = FittedDetector(cfg, list(values.columns), center, scale, np.zeros(len(center)), np.eye(len(center)), 0.0)
    z = np.nan_to_num(proto.zscores(clean).to_numpy())
    lw = LedoitWolf().fit(z)
    proto.mean = lw.location_
    proto.precision = lw.precision_
    fit_scores, _ = proto.score(clean)
    proto.threshold = float(cfg.margin * np.quantile(fit_scores, cfg.quantile))
    proto.threshold = max(proto.threshold, 1e-6)
    return proto


def split_fit(values: pd.DataFrame, config: AnomalyDetectorConfig) -> pd.DataFrame:
    """The leading ``fit_seconds`` of a time-indexed frame."""
    t0 = values.index[0]
    return values[values.index < t0 + pd.Timedelta(seconds=config.fit_seconds)]


def intervals(flags_on: np.ndarray, flags_hold: np.ndarray, times: pd.DatetimeIndex, cfg: AnomalyDetectorConfig) -> list[tuple[int, int]]:
    """Hysteresis + merging + minimum duration over boolean arrays; returns inclusive index pairs."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i in range(len(flags_on)):
        if start is None and flags_on[i]:
            start = i
        elif start is not None and not flags_hold[i]:
            spans.append((start, i - 1))
            start = None
    if start is not None:
        spans.append((start, len(flags_on) - 1))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and (times[s] - times[merged[-1][1]]).total_seconds() <= cfg.merge_gap_seconds:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return [(s, e) for s, e in merged if (times[e] - times[s]).total_seconds() + 1 >= cfg.min_duration_seconds]


def detect(values: pd.DataFrame, detector: FittedDetector) -> tuple[list[DetectedInterval], np.ndarray]:
    """Find anomalous intervals in a time-indexed frame.

    Returns:
        The intervals and the per-row score in threshold units (> 1 = above threshold).
    """
    raw, z = detector.score(values)
    rel = raw / detector.threshold
    cfg = detector.config
    found: list[DetectedInterval] = []
    times = pd.DatetimeIndex(values.index)
    for s, e in intervals(rel > 1.0, rel > cfg.exit_ratio, times, cfg):
        contrib = z.iloc[s : e + 1].abs().mean().sort_values(ascending=False)
        top = [str(c) for c in contrib.index[: cfg.top_channels] if contrib[c] > 1.0] or [str(contrib.index[0])]
        found.append(DetectedInterval(s, e, times[s], times[e], float(rel[s : e + 1].max()), top))
    return found, rel


def point_labels(n: int, found: list[DetectedInterval]) -> np.ndarray:
    """0/1 per row: inside a detected interval."""
    out = np.zeros(n, dtype=int)
    for iv in found:
        out[iv.start : iv.end + 1] = 1
    return out
