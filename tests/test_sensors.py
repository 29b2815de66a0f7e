"""Sensor ingestion and anomaly detection: synthetic injected anomaly, SKAB file, bad files, idempotency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.bus import InProcessBus
from floorwatch.schemas.tables import Sensor, SensorAnomaly, SensorWindow
from floorwatch.signals.anomaly import AnomalyDetectorConfig, detect, fit, split_fit
from floorwatch.signals.sensors import (
    SensorFileError,
    channel_category,
    ingest_sensor_file,
    publish_anomalies,
    read_sensor_csv,
)
from floorwatch.storage.db import session_scope
from tests.conftest import shared_data


def _synthetic(tmp_path: Path, start: int = 900, end: int = 1100, channel: str = "BearingTemp", seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    n = 1500
    df = pd.DataFrame({
        "datetime": pd.date_range("2024-05-01 08:00:00", periods=n, freq="s"),
        "BearingTemp": 55 + rng.normal(0, 0.2, n),
        "Vibration": 0.3 + rng.normal(0, 0.01, n),
        "MotorCurrent": 12 + rng.normal(0, 0.3, n),
    })
    df.loc[start:end - 1, channel] += 8 * df.loc[start:end - 1, channel].std() if channel == "Vibration" else 4.0
    df["anomaly"] = 0
    df.loc[start:end - 1, "anomaly"] = 1
    p = tmp_path / "pump.csv"
    df.to_csv(p, index=False)
    return p


@pytest.mark.parametrize(("channel", "category"), [("BearingTemp", "overheating"), ("Vibration", "vibration")])
def test_injected_anomaly_is_found_and_categorised(tmp_path: Path, channel: str, category: str) -> None:
    series = read_sensor_csv(_synthetic(tmp_path, channel=channel))
    assert list(series.labels.columns) == ["anomaly"] and "anomaly" not in series.values.columns
    cfg = AnomalyDetectorConfig()
    found, score = detect(series.values, fit(split_fit(series.values, cfg), cfg))
    assert len(found) == 1
    iv = found[0]
    assert iv.start < 1100 and iv.end >= 900  # overlaps the injected span
    assert 880 <= iv.start <= 930 and iv.end <= 1200
    assert iv.channels[0] == channel and channel_category(iv.channels[0]) == category
    assert score[:850].max() < 1.0 < score[950:1050].min()


def test_ingest_stores_windows_and_anomalies_idempotently(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    path = _synthetic(tmp_path)
    results = []
    for _ in range(2):
        with session_scope(migrated_db) as s:
            results.append(ingest_sensor_file(s, path, zone="pump-room", asset="pump-7", window_seconds=60))
    assert results[0].anomalies[0].id == results[1].anomalies[0].id
    with session_scope(migrated_db) as s:
        assert s.scalar(select(func.count()).select_from(Sensor)) == 3
        assert s.scalar(select(func.count()).select_from(SensorWindow)) == 3 * 25
        w = s.scalars(select(SensorWindow).where(SensorWindow.sensor_id == "pump-7:BearingTemp")
                      .order_by(SensorWindow.window_start)).first()
        assert w is not None and w.count == 60 and w.min <= w.mean <= w.max
        (a,) = s.scalars(select(SensorAnomaly)).all()
        assert (a.zone_id, a.asset, a.category, a.channels[0]) == ("pump-room", "pump-7", "overheating", "BearingTemp")
    seen: list = []
    bus = InProcessBus([seen.extend])
    publish_anomalies(bus, results[0])
    assert [e.anomaly_id for e in seen] == [a.id for a in results[0].anomalies]
    assert seen[0].category == "overheating" and seen[0].zone_id == "pump-room"


def test_non_numeric_column_refused_by_name(migrated_db: sessionmaker[Session], tmp_path: Path) -> None:
    p = tmp_path / "bad.csv"
    p.write_text("datetime,Temp,Status\n2024-01-01 00:00:00,50.1,ok\n2024-01-01 00:00:01,50.2,ok\n")
    with pytest.raises(SensorFileError, match=r"line 2, column 'Status': 'ok' is not a number .*column 'Status' holds no number"), \
            session_scope(migrated_db) as s:
        ingest_sensor_file(s, p, zone="z1")
    with session_scope(migrated_db) as s:
        assert s.scalar(select(func.count()).select_from(Sensor)) == 0


def test_missing_time_column_and_short_file(tmp_path: Path, migrated_db: sessionmaker[Session]) -> None:
    p = tmp_path / "t.csv"
    p.write_text("when;Temp\n" + "".join(f"2024-01-01 00:00:{i:02d};{i}\n" for i in range(5)))
    with pytest.raises(SensorFileError, match=r"no time column 'datetime' .*'when'"):
        read_sensor_csv(p, sep=";", time_column="datetime")
    assert read_sensor_csv(p).values.index[0].second == 0  # found by its values; separator sniffed
    with pytest.raises(SensorFileError, match="need at least 30"), session_scope(migrated_db) as s:
        ingest_sensor_file(s, p, zone="z1", sep=";", time_column="when")
    with session_scope(migrated_db) as s:
        assert s.scalar(select(func.count()).select_from(Sensor)) == 0


def test_skab_file_ingests(migrated_db: sessionmaker[Session]) -> None:
    path = shared_data("sensors", "skab", "0.csv")
    with session_scope(migrated_db) as s:
        res = ingest_sensor_file(s, path, zone="pump-room", asset="skab-valve1-0", sep=";")
    assert res.rows == 1147 and len(res.channels) == 8 and "anomaly" not in res.channels
    labels = read_sensor_csv(path, sep=";").labels["anomaly"]
    first_true = labels[labels == 1].index[0]
    assert any(a.started_at <= labels.index[-1] and a.ended_at >= first_true for a in res.anomalies)
