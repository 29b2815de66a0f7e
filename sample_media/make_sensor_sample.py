"""Generate ``sample_media/sensors/press_line_pump.csv``: a synthetic 1 Hz pump log with one overheating episode.

Invented data (seeded, reproducible): 40 minutes of a hydraulic pump with channels
``MotorTemperature`` (C), ``Vibration`` (g RMS), ``Current`` (A), ``Pressure`` (bar), ``FlowRate`` (l/min).
Minutes 0-25 are normal. From minute 25:00 to 31:00 a blocked cooler makes ``MotorTemperature`` climb
about 12 C with a slight rise in ``Current``, then it cools down again; the ``anomaly`` column marks
25:00-31:00 (SKAB-style label, kept for evaluation only).

Run: ``.venv/bin/python sample_media/make_sensor_sample.py``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "sensors" / "press_line_pump.csv"
EPISODE = (25 * 60, 31 * 60)


def make(seconds: int = 40 * 60, seed: int = 7) -> pd.DataFrame:
    """The synthetic log as a frame (``datetime`` + channels + ``anomaly``)."""
    rng = np.random.default_rng(seed)
    t = np.arange(seconds)
    start, end = EPISODE
    heat = np.clip((t - start) / (end - start), 0, 1) * 12.0
    heat = np.where(t > end, 12.0 * np.exp(-(t - end) / 120.0), heat)
    df = pd.DataFrame({
        "datetime": pd.Timestamp("2024-03-18 06:00:00") + pd.to_timedelta(t, unit="s"),
        "MotorTemperature": 61.0 + 0.1 * np.sin(t / 300.0) + heat + rng.normal(0, 0.15, seconds),
        "Vibration": 0.21 + rng.normal(0, 0.006, seconds),
        "Current": 14.2 + heat * 0.05 + rng.normal(0, 0.25, seconds),
        "Pressure": 152.0 + rng.normal(0, 0.8, seconds),
        "FlowRate": 38.0 + rng.normal(0, 0.3, seconds),
    })
    df["anomaly"] = ((t >= start) & (t < end)).astype(float)
    return df.round({c: 3 for c in df.columns if c != "datetime"})


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    make().to_csv(OUT, index=False)
    print(f"wrote {OUT}")
