"""Figures of the risk report as PNG bytes (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

LEVEL_COLORS = {"low": "#2e7d32", "medium": "#f9a825", "high": "#ef6c00", "critical": "#c62828"}
UNKNOWN_COLOR = "#9e9e9e"


@dataclass(frozen=True)
class SensorSeries:
    """Per-window aggregates of one sensor channel."""

    sensor_id: str
    unit: str
    times: Sequence[datetime]
    mean: Sequence[float]
    low: Sequence[float]
    high: Sequence[float]


@dataclass(frozen=True)
class AnomalyBand:
    """A time interval flagged as anomalous (drawn as a shaded band)."""

    start: datetime
    end: datetime
    label: str


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def alerts_heatmap(alert_times: Mapping[str, Sequence[datetime]], timezone: str = "UTC") -> bytes | None:
    """Alerts per zone (rows) x local hour of day (columns); None when there are no alerts.

    Args:
        alert_times: zone id -> start times of its alerts (aware).
        timezone: IANA zone of the site, so hours read as the plant's clock.
    """
    zones = [z for z in sorted(alert_times) if alert_times[z]]
    if not zones:
        return None
    tz = ZoneInfo(timezone)
    counts = np.zeros((len(zones), 24), dtype=int)
    for i, zone in enumerate(zones):
        for t in alert_times[zone]:
            counts[i, t.astimezone(tz).hour] += 1
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(zones) + 1.6))
    im = ax.imshow(counts, aspect="auto", cmap="Reds", vmin=0)
    ax.set_yticks(range(len(zones)), zones)
    ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)], fontsize=8)
    ax.set_xlabel(f"hour of day ({timezone})")
    ax.set_title("Alerts per zone and hour of day")
    for i, j in zip(*np.nonzero(counts), strict=True):
        colour = "white" if counts[i, j] > counts.max() / 2 else "black"
        ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7, color=colour)
    cbar = fig.colorbar(im, ax=ax, label="alerts", fraction=0.03)
    cbar.locator = MaxNLocator(integer=True)
    cbar.update_ticks()
    return _png(fig)


def risk_history(points: Mapping[str, Sequence[tuple[datetime, float]]]) -> bytes | None:
    """Risk score (0-100) per zone over time, one line per zone.

    None until the points span two assessment times: a first run has one point per zone, and a chart of one
    instant has no time axis to read (matplotlib spreads a single date over a made-up range of hours).
    """
    series = {z: sorted(p) for z, p in points.items() if p}
    if len({t for pts in series.values() for t, _ in pts}) < 2:  # noqa: PLR2004 - a line needs two times
        return None
    fig, ax = plt.subplots(figsize=(10, 3.6))
    for zone, pts in sorted(series.items()):
        ax.plot([t for t, _ in pts], [s for _, s in pts], marker="o", label=zone)
    ax.set_ylim(0, 100)
    ax.set_ylabel("risk score")
    ax.set_title("Risk score per zone over time")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def sensor_channels(
    series: Sequence[SensorSeries], anomalies: Sequence[AnomalyBand], title: str = "", timezone: str = "UTC"
) -> bytes | None:
    """One panel per channel (mean line, min-max band) with anomaly intervals shaded; None without data.
    The time axis is in ``timezone`` (the site's: the report says all its times are site time)."""
    series = [s for s in series if s.times]
    if not series:
        return None
    fig, axes = plt.subplots(
        len(series), 1, figsize=(10, 1.5 * len(series) + 0.8), sharex=True, squeeze=False
    )
    for ax, s in zip(axes[:, 0], series, strict=True):
        ax.fill_between(s.times, s.low, s.high, color="#90caf9", alpha=0.5, lw=0)
        ax.plot(s.times, s.mean, color="#1565c0", lw=1)
        ax.set_ylabel(s.sensor_id.split(":")[-1] + (f" ({s.unit})" if s.unit else ""), fontsize=8)
        for band in anomalies:
            ax.axvspan(band.start, band.end, color="#c62828", alpha=0.18, lw=0)
        ax.grid(alpha=0.3)
    top = axes[0, 0]
    top.set_title(title or "Sensor channels (shaded: anomalies)")
    bottom = axes[-1, 0]
    tz = ZoneInfo(timezone)
    locator = mdates.AutoDateLocator(tz=tz)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))
    bottom.set_xlabel(f"site time ({timezone})", fontsize=8)
    return _png(fig)


def site_map(
    polygons: Mapping[str, Sequence[tuple[float, float]]],
    levels: Mapping[str, str | None],
    scores: Mapping[str, float | None],
    site_name: str = "",
) -> bytes | None:
    """Plan of the site: each zone's ``map_polygon`` filled with its risk-level colour; None without polygons."""
    if not polygons:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    for zone, poly in sorted(polygons.items()):
        colour = LEVEL_COLORS.get(levels.get(zone) or "", UNKNOWN_COLOR)
        ax.add_patch(Polygon(poly, closed=True, facecolor=colour, edgecolor="black", alpha=0.55))
        cx, cy = np.mean(np.asarray(poly, dtype=float), axis=0)
        score = scores.get(zone)
        label = zone if score is None else f"{zone}\n{score:.0f}"
        ax.text(cx, cy, label, ha="center", va="center", fontsize=9, weight="bold")
    ax.autoscale_view()
    ax.set_aspect("equal")
    ax.invert_yaxis()  # map coordinates usually grow downwards like image pixels
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"Site map{' - ' + site_name if site_name else ''} (colour = risk level)")
    return _png(fig)


WEEKDAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _annotate(ax, counts: np.ndarray, fontsize: int = 7) -> None:  # type: ignore[no-untyped-def]
    for i, j in zip(*np.nonzero(counts), strict=True):
        colour = "white" if counts[i, j] > counts.max() / 2 else "black"
        ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=fontsize, color=colour)


def weekday_hour_heatmap(matrix: Sequence[Sequence[int]], title: str, timezone: str = "UTC") -> bytes | None:
    """Events per weekday (rows, Mon..Sun) x local hour (columns); None when the matrix is all zero."""
    counts = np.asarray(matrix, dtype=int)
    if counts.shape != (7, 24):
        raise ValueError(f"weekday x hour matrix must be 7 x 24, got {counts.shape}")
    if not counts.any():
        return None
    fig, ax = plt.subplots(figsize=(10, 2.3))
    im = ax.imshow(counts, aspect="auto", cmap="Purples", vmin=0)
    ax.set_yticks(range(7), WEEKDAY_LABELS, fontsize=8)
    ax.set_xticks(range(24), [f"{h:02d}" for h in range(24)], fontsize=8)
    ax.set_xlabel(f"hour of day ({timezone})", fontsize=9)
    ax.set_title(title, fontsize=10)
    _annotate(ax, counts)
    cbar = fig.colorbar(im, ax=ax, fraction=0.03)
    cbar.locator = MaxNLocator(integer=True)
    cbar.update_ticks()
    return _png(fig)


def shift_zone_heatmap(counts: Mapping[str, Mapping[str, int]], shifts: Sequence[str]) -> bytes | None:
    """Alerts + incidents per zone (rows) x shift (columns) for the whole site; None without events.

    Args:
        counts: zone id -> shift name -> events.
        shifts: column order (the configured shifts, then ``(no shift)`` if any event fell outside them).
    """
    zones = [z for z in sorted(counts) if any(counts[z].values())]
    if not zones or not shifts:
        return None
    grid = np.array([[counts[z].get(s, 0) for s in shifts] for z in zones], dtype=int)
    fig, ax = plt.subplots(figsize=(1.4 * len(shifts) + 3, 0.5 * len(zones) + 1.4))
    im = ax.imshow(grid, aspect="auto", cmap="Oranges", vmin=0)
    ax.set_yticks(range(len(zones)), zones)
    ax.set_xticks(range(len(shifts)), list(shifts))
    ax.set_title("Alerts + incidents per zone and shift")
    _annotate(ax, grid, fontsize=9)
    cbar = fig.colorbar(im, ax=ax, fraction=0.05)
    cbar.locator = MaxNLocator(integer=True)
    cbar.update_ticks()
    return _png(fig)
