"""Sensor CSVs into the database: channels, per-window aggregates and detected anomalies.

A sensor file is *wide*: one time column and one numeric column per channel (SKAB layout:
``datetime;Accelerometer1RMS;...;anomaly;changepoint``). Label columns (``anomaly``, ``changepoint``)
are never used for detection; they are returned for evaluation. A column that is not numeric is
refused by name. Readings are aggregated into ``sensor_windows`` (count/mean/min/max per window),
anomalies (``signals.anomaly``) go to ``sensor_anomalies`` with an id derived from asset + start, so
ingesting the same file again is a no-op. ``publish_anomalies`` sends them as ``AnomalyEvent``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from floorwatch.config import ZONE_ID_PATTERN
from floorwatch.schemas.events import AnomalyEvent
from floorwatch.schemas.tables import Sensor, SensorAnomaly, SensorWindow
from floorwatch.signals.anomaly import METHOD_NAME, AnomalyDetectorConfig, FitError, detect, fit, split_fit
from floorwatch.storage.registry import ensure_zones
from floorwatch.storage.upsert import upsert

if TYPE_CHECKING:
    from floorwatch.bus import EventBus

LABEL_COLUMNS = ("anomaly", "changepoint")
_CATEGORY_CUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("overheating", ("temp", "thermo")),
    ("vibration", ("accel", "vibr")),
    ("pressure", ("press",)),
    ("electrical", ("current", "volt", "amp", "power")),
    ("flow", ("flow", "rate")),
)


class SensorFileError(ValueError):
    """The sensor file cannot be used (missing time column, non-numeric columns, too short, ...)."""


@dataclass
class SensorSeries:
    """A parsed sensor file: channel values and labels indexed by aware UTC time."""

    values: pd.DataFrame
    labels: pd.DataFrame


@dataclass
class AnomalyRecord:
    """A stored anomaly (as written to ``sensor_anomalies``)."""

    id: str
    zone_id: str
    asset: str
    started_at: datetime
    ended_at: datetime
    score: float
    channels: list[str]
    category: str
    method: str = METHOD_NAME


@dataclass
class SensorIngestResult:
    """What one ingestion did."""

    asset: str
    rows: int
    channels: list[str]
    windows: int
    anomalies: list[AnomalyRecord] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.asset}: {self.rows} readings of {len(self.channels)} channels, {self.windows} windows, "
            f"{len(self.anomalies)} anomalies"
        )


def channel_category(name: str) -> str:
    """Category of a channel from its name (``Thermocouple`` -> ``overheating``); ``other`` if unknown."""
    low = name.lower()
    return next((cat for cat, cues in _CATEGORY_CUES if any(c in low for c in cues)), "other")


def read_sensor_csv(path: Path, *, sep: str = ",", time_column: str = "datetime", tz: ZoneInfo | None = None) -> SensorSeries:
    """Parse a wide sensor CSV.

    Raises:
        SensorFileError: unreadable file, missing time column, unparseable times or non-numeric columns.
    """
    try:
        df = pd.read_csv(path, sep=sep)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SensorFileError(f"{path}: cannot read CSV: {exc}") from exc
    if time_column not in df.columns:
        shown = ", ".join(repr(c) for c in df.columns)
        raise SensorFileError(f"{path}: no time column {time_column!r} (check --sep {sep!r}); columns: {shown}")
    times = pd.to_datetime(df.pop(time_column), errors="coerce")
    if times.isna().any():
        bad = [int(i) + 2 for i in np.flatnonzero(times.isna().to_numpy())[:5]]
        raise SensorFileError(f"{path}: unparseable time in column {time_column!r} at lines {bad}")
    if times.dt.tz is None:
        times = times.dt.tz_localize(tz or UTC)
    labels = df[[c for c in df.columns if c.lower() in LABEL_COLUMNS]]
    values = df.drop(columns=labels.columns)
    non_numeric = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if non_numeric:
        raise SensorFileError(f"{path}: non-numeric columns {non_numeric}; only numeric channels are accepted")
    if values.empty or values.shape[1] == 0:
        raise SensorFileError(f"{path}: no numeric channels")
    index = pd.DatetimeIndex(times.dt.tz_convert(UTC), name="time")
    values.index = index
    labels.index = index
    order = np.argsort(index.to_numpy(), kind="stable")
    return SensorSeries(values.iloc[order].astype(float), labels.iloc[order])


def aggregate_windows(values: pd.DataFrame, window_seconds: int) -> pd.DataFrame:
    """Long frame ``channel, window_start, count, mean, min, max`` per channel and window."""
    grouped = values.groupby(values.index.floor(f"{window_seconds}s"))
    stats = grouped.agg(["count", "mean", "min", "max"]).stack(level=0, future_stack=True)
    stats.index.names = ["window_start", "channel"]
    return stats.reset_index().dropna(subset=["mean"])


def anomaly_id(asset: str, started_at: datetime) -> str:
    """Deterministic id from asset and start time."""
    digest = hashlib.sha256(f"{asset}|{started_at.astimezone(UTC).isoformat()}".encode()).hexdigest()
    return f"anomaly-{digest[:24]}"


def find_anomalies(series: SensorSeries, zone: str, asset: str, cfg: AnomalyDetectorConfig,
                   baseline: SensorSeries | None = None) -> list[AnomalyRecord]:
    """Fit (leading span or ``baseline``) and detect; one record per interval."""
    fit_values = baseline.values[series.values.columns] if baseline is not None else split_fit(series.values, cfg)
    try:
        detector = fit(fit_values, cfg)
    except FitError as exc:
        raise SensorFileError(f"{asset}: {exc} (fit span {cfg.fit_seconds:g} s; use a longer file or --baseline)") from exc
    found, _ = detect(series.values, detector)
    return [
        AnomalyRecord(
            id=anomaly_id(asset, iv.started_at.to_pydatetime()), zone_id=zone, asset=asset,
            started_at=iv.started_at.to_pydatetime(), ended_at=iv.ended_at.to_pydatetime(),
            score=round(iv.score, 4), channels=iv.channels, category=channel_category(iv.channels[0]),
        )
        for iv in found
    ]


def ingest_sensor_file(session: Session, path: Path, *, zone: str, asset: str | None = None, sep: str = ",",
                       time_column: str = "datetime", window_seconds: int = 60,
                       detector: AnomalyDetectorConfig | None = None, baseline: Path | None = None,
                       tz: ZoneInfo | None = None) -> SensorIngestResult:
    """Read, aggregate, detect and store one sensor file in the caller's transaction.

    Raises:
        SensorFileError: bad zone id, unusable file or too little data to fit on.
    """
    import re

    if not re.match(ZONE_ID_PATTERN, zone):
        raise SensorFileError(f"zone {zone!r} is not a valid zone id (pattern {ZONE_ID_PATTERN})")
    asset = asset or path.stem
    cfg = detector or AnomalyDetectorConfig()
    series = read_sensor_csv(path, sep=sep, time_column=time_column, tz=tz)
    base = read_sensor_csv(baseline, sep=sep, time_column=time_column, tz=tz) if baseline else None
    if base is not None and (missing := [c for c in series.values.columns if c not in base.values.columns]):
        raise SensorFileError(f"{baseline}: baseline lacks channels {missing}")
    anomalies = find_anomalies(series, zone, asset, cfg, base)
    channels = [str(c) for c in series.values.columns]
    ensure_zones(session, [zone])
    upsert(session, Sensor, [{"id": f"{asset}:{c}", "asset": asset, "channel": c, "zone_id": zone} for c in channels],
           key=["id"], update=["zone_id"])
    windows = aggregate_windows(series.values, window_seconds)
    rows = [
        {"sensor_id": f"{asset}:{r.channel}", "window_start": r.window_start.to_pydatetime(), "window_seconds": window_seconds,
         "count": int(r.count), "mean": float(r.mean), "min": float(r.min), "max": float(r.max)}
        for r in windows.itertuples(index=False)
    ]
    for i in range(0, len(rows), 1000):
        upsert(session, SensorWindow, rows[i : i + 1000], key=["sensor_id", "window_start"],
               update=["window_seconds", "count", "mean", "min", "max"])
    upsert(session, SensorAnomaly, [a.__dict__ for a in anomalies], key=["id"],
           update=["ended_at", "score", "channels", "category", "method"])
    return SensorIngestResult(asset, len(series.values), channels, len(rows), anomalies)


def publish_anomalies(bus: EventBus, result: SensorIngestResult) -> None:
    """Publish each anomaly as an ``AnomalyEvent`` (event id = anomaly id, so redelivery is a no-op)."""
    for a in result.anomalies:
        bus.publish(AnomalyEvent(event_id=a.id, anomaly_id=a.id, zone_id=a.zone_id, asset=a.asset,
                                 started_at=a.started_at, ended_at=a.ended_at, score=a.score,
                                 channels=a.channels, category=a.category, method=a.method))  # type: ignore[arg-type]
