"""Sensor CSVs into the database: channels, per-window aggregates and detected anomalies.

A sensor file is *wide*: one time column and one numeric column per channel (SKAB layout:
``datetime;Accelerometer1RMS;...;anomaly;changepoint``). Label columns (``anomaly``, ``changepoint``)
are never used for detection; they are returned for evaluation. A value that is not a number refuses
the file, named by line (as a text editor numbers it), column and value. The file is read and put on a regular time grid by ``signals.sensor_grid`` (encoding,
separator, decimal comma and date layout detected; clock faults, duplicates and gaps handled and
reported in ``notes``). Readings are aggregated into ``sensor_windows`` (count/mean/min/max per window),
anomalies (``signals.anomaly``) go to ``sensor_anomalies`` with an id derived from asset + start, so
ingesting the same file again is a no-op. ``publish_anomalies`` sends them as ``AnomalyEvent``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy.orm import Session

from floorwatch.config import ZONE_ID_PATTERN
from floorwatch.schemas.events import AnomalyEvent
from floorwatch.schemas.tables import Sensor, SensorAnomaly, SensorWindow
from floorwatch.signals.anomaly import METHOD_NAME, AnomalyDetectorConfig, FitError, detect, fit, split_fit
from floorwatch.signals.sensor_grid import (
    LABEL_COLUMNS,
    SensorFileError,
    SensorSeries,
    read_sensor_table,
    regularise,
)
from floorwatch.signals.sensor_units import channel_category
from floorwatch.storage.registry import ensure_zones
from floorwatch.storage.upsert import upsert

if TYPE_CHECKING:
    from floorwatch.bus import EventBus

__all__ = ["LABEL_COLUMNS", "AnomalyRecord", "SensorFileError", "SensorIngestResult", "SensorSeries",
           "channel_category", "find_anomalies", "ingest_sensor_file", "publish_anomalies", "read_sensor_csv"]


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
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.asset}: {self.rows} readings of {len(self.channels)} channels, {self.windows} windows, "
            f"{len(self.anomalies)} anomalies"
        )


def read_sensor_csv(path: Path, *, sep: str | None = None, time_column: str | None = None, tz: ZoneInfo | None = None,
                    encoding: str | None = None, time_format: str | None = None) -> SensorSeries:
    """Parse a wide sensor file onto a regular grid (``signals.sensor_grid``); ``None`` = detect.

    Raises:
        SensorFileError: unreadable file, missing time column, unparseable times or non-numeric columns.
    """
    times, values, labels, notes = read_sensor_table(path, sep=sep, time_column=time_column, tz=tz,
                                                     encoding=encoding, time_format=time_format)
    return regularise(times, values, labels, notes, str(path))


def aggregate_windows(values: pd.DataFrame, window_seconds: int) -> pd.DataFrame:
    """Long frame ``channel, window_start, count, mean, min, max`` per channel and window."""
    values = values.dropna(how="all")
    grouped = values.groupby(values.index.floor(f"{window_seconds}s"))
    stats = grouped.agg(["count", "mean", "min", "max"]).stack(level=0, future_stack=True)
    stats.index.names = ["window_start", "channel"]
    return stats.reset_index().dropna(subset=["mean"])


def anomaly_id(asset: str, started_at: datetime) -> str:
    """Deterministic id from asset and start time."""
    digest = hashlib.sha256(f"{asset}|{started_at.astimezone(UTC).isoformat()}".encode()).hexdigest()
    return f"anomaly-{digest[:24]}"


def _category(channels: list[str], units: dict[str, str], context: str | None) -> str:
    """The category of the first leading channel that has one (``other`` when none has)."""
    cats = [channel_category(c, units.get(c), context) for c in channels]
    return next((c for c in cats if c != "other"), "other")


def find_anomalies(series: SensorSeries, zone: str, asset: str, cfg: AnomalyDetectorConfig,
                   baseline: SensorSeries | None = None, units: dict[str, str] | None = None) -> list[AnomalyRecord]:
    """Fit (leading span or ``baseline``) and detect; one record per interval.

    ``units`` (channel -> unit, e.g. ``{"T1": "degC"}``) helps categorise channels whose names say little.
    """
    units = units or {}
    context = asset if series.values.shape[1] == 1 else None  # a lone "value" column: the file names it
    fit_values = baseline.values[series.values.columns] if baseline is not None else split_fit(series.values, cfg)
    try:
        detector = fit(fit_values, cfg)
    except FitError as exc:
        span = f"{len(fit_values)} grid steps of {series.period}"
        raise SensorFileError(f"{asset}: {exc} (fit span {span}; use a longer file or --baseline)") from exc
    found, _ = detect(series.values, detector)
    return [
        AnomalyRecord(
            id=anomaly_id(asset, iv.started_at.to_pydatetime()), zone_id=zone, asset=asset,
            started_at=iv.started_at.to_pydatetime(), ended_at=iv.ended_at.to_pydatetime(),
            score=round(iv.score, 4), channels=iv.channels, category=_category(iv.channels, units, context),
        )
        for iv in found
    ]


def analyse_sensor_file(path: Path, *, zone: str, asset: str | None = None, sep: str | None = None,
                        time_column: str | None = None, detector: AnomalyDetectorConfig | None = None,
                        baseline: Path | None = None, tz: ZoneInfo | None = None, encoding: str | None = None,
                        time_format: str | None = None,
                        units: dict[str, str] | None = None) -> tuple[SensorSeries, list[AnomalyRecord]]:
    """Read a sensor file and find its anomalies without touching the database (``--dry-run``).

    Raises:
        SensorFileError: bad zone id, unusable file or too little data to fit on.
    """
    if not re.match(ZONE_ID_PATTERN, zone):
        raise SensorFileError(f"zone {zone!r} is not a valid zone id (pattern {ZONE_ID_PATTERN})")
    asset = asset or path.stem
    cfg = detector or AnomalyDetectorConfig()
    opts = {"sep": sep, "time_column": time_column, "tz": tz, "encoding": encoding, "time_format": time_format}
    series = read_sensor_csv(path, **opts)  # type: ignore[arg-type]
    base = read_sensor_csv(baseline, **opts) if baseline else None  # type: ignore[arg-type]
    if base is not None and (missing := [c for c in series.values.columns if c not in base.values.columns]):
        raise SensorFileError(f"{baseline}: baseline lacks channels {missing}")
    return series, find_anomalies(series, zone, asset, cfg, base, units)


def ingest_sensor_file(session: Session, path: Path, *, zone: str, asset: str | None = None, sep: str | None = None,
                       time_column: str | None = None, window_seconds: int = 60,
                       detector: AnomalyDetectorConfig | None = None, baseline: Path | None = None,
                       tz: ZoneInfo | None = None, encoding: str | None = None,
                       time_format: str | None = None, units: dict[str, str] | None = None) -> SensorIngestResult:
    """Read, aggregate, detect and store one sensor file in the caller's transaction.

    Raises:
        SensorFileError: bad zone id, unusable file or too little data to fit on.
    """
    asset = asset or path.stem
    series, anomalies = analyse_sensor_file(path, zone=zone, asset=asset, sep=sep, time_column=time_column,
                                            detector=detector, baseline=baseline, tz=tz, encoding=encoding,
                                            time_format=time_format, units=units)
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
    return SensorIngestResult(asset, series.readings, channels, len(rows), anomalies, series.notes)


def publish_anomalies(bus: EventBus, result: SensorIngestResult) -> None:
    """Publish each anomaly as an ``AnomalyEvent`` (event id = anomaly id, so redelivery is a no-op)."""
    for a in result.anomalies:
        bus.publish(AnomalyEvent(event_id=a.id, anomaly_id=a.id, zone_id=a.zone_id, asset=a.asset,
                                 started_at=a.started_at, ended_at=a.ended_at, score=a.score,
                                 channels=a.channels, category=a.category, method=a.method))  # type: ignore[arg-type]
