"""The rendered risk report: one self-contained HTML file (inline CSS, figures as data URIs) and Markdown."""

from __future__ import annotations

import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.config import Settings, ShiftConfig, SiteConfig
from floorwatch.review import plots
from floorwatch.review.fatigue import ThresholdSuggestion, suggest_threshold_changes
from floorwatch.review.media import png_data_uri
from floorwatch.review.report_data import ZoneCard, risk_points, zone_cards
from floorwatch.review.site_time import site_time
from floorwatch.schemas.evidence import ZoneFacts
from floorwatch.schemas.tables import Alert, Sensor, SensorAnomaly, SensorWindow
from floorwatch.storage.queries import dismissal_rates, unplaced_reports, unread_reports
from floorwatch.wording import count_noun

MAX_SENSOR_CHANNELS = 6


@dataclass(frozen=True)
class ReportPaths:
    """Files written by :func:`render_report`."""

    html: Path
    markdown: Path
    figures: list[Path] = field(default_factory=list)


_MD_SPECIAL = re.compile(r"([\\`\[\]<>|])")


def md_escape(value: object) -> str:
    r"""Untrusted text (report titles and text, file names, error messages) made inert in Markdown.

    CommonMark backslash escapes for ``\ ` [ ] < > |``: no link, image, inline HTML, code span or table cell
    can be opened by the text itself; everything else reads as written.
    """
    return _MD_SPECIAL.sub(r"\\\1", str(value))


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("floorwatch.review", "templates"),
        autoescape=lambda name: bool(name) and not name.endswith(".md.j2"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dt"] = site_time
    env.filters["md"] = md_escape
    env.filters["plural"] = count_noun
    env.globals["level_colors"] = plots.LEVEL_COLORS
    env.globals["unknown_color"] = plots.UNKNOWN_COLOR
    return env


def _alert_times(session: Session, start: datetime, end: datetime) -> dict[str, list[datetime]]:
    stmt = select(Alert.zone_id, Alert.started_at).where(Alert.started_at >= start, Alert.started_at <= end)
    out: dict[str, list[datetime]] = defaultdict(list)
    for zid, t in session.execute(stmt):
        out[zid].append(t)
    return dict(out)


def sensor_figure(session: Session, zone_id: str, start: datetime, end: datetime, tz: str = "UTC") -> bytes | None:
    """Channels of the zone's sensors over ``[start, end]`` with its anomalies shaded (None without readings)."""
    sensors = list(session.scalars(select(Sensor).where(Sensor.zone_id == zone_id).order_by(Sensor.id)))
    anomalies = list(
        session.scalars(
            select(SensorAnomaly).where(
                SensorAnomaly.zone_id == zone_id,
                SensorAnomaly.started_at <= end,
                SensorAnomaly.ended_at >= start,
            )
        )
    )
    flagged = {str(c) for a in anomalies for c in a.channels}
    # Channels named by an anomaly first, so the figure shows what went wrong.
    sensors.sort(key=lambda s: (s.channel not in flagged and s.id not in flagged, s.id))
    series = []
    for s in sensors[:MAX_SENSOR_CHANNELS]:
        rows = session.execute(
            select(SensorWindow.window_start, SensorWindow.mean, SensorWindow.min, SensorWindow.max)
            .where(
                SensorWindow.sensor_id == s.id,
                SensorWindow.window_start >= start,
                SensorWindow.window_start <= end,
            )
            .order_by(SensorWindow.window_start)
        ).all()
        if rows:
            t, mean, lo, hi = zip(*rows, strict=True)
            series.append(plots.SensorSeries(s.id, s.unit, t, mean, lo, hi))
    bands = [plots.AnomalyBand(a.started_at, a.ended_at, a.category) for a in anomalies]
    return plots.sensor_channels(series, bands, title=f"Sensors in {zone_id} (shaded: anomalies)", timezone=tz)


def _shift_columns(cards: list[ZoneCard], shifts: list[ShiftConfig]) -> list[str]:
    names = list(dict.fromkeys(s.name for s in shifts))
    extra = sorted({k for c in cards for k, v in c.when.shift_counts.items() if v and k not in names})
    return names + extra


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file + rename so a reader never sees half a report."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_context(
    session: Session,
    period_start: datetime,
    period_end: datetime,
    media_dir: Path,
    out_dir: Path,
    base_url: str | None = None,
    settings: Settings | None = None,
    facts: Mapping[str, ZoneFacts] | None = None,
) -> dict[str, Any]:
    """Everything the report templates need (cards, PNG figures, fatigue suggestions); ``facts`` as in
    :func:`render_report`."""
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        if value.tzinfo is None:
            raise ValueError(f"{name}={value.isoformat()} is naive: pass an aware datetime (UTC)")
    if period_start > period_end:
        raise ValueError(
            f"period_start {period_start.isoformat()} is after period_end {period_end.isoformat()}"
        )
    base_url = base_url.rstrip("/") if base_url else None
    camera_zones = None
    if settings is not None and settings.cameras:
        camera_zones = {c.id: [z.zone_id for z in c.zones] for c in settings.cameras}
    tz = settings.site.timezone if settings else "UTC"
    shifts = settings.site.shifts if settings else SiteConfig().shifts
    cards: list[ZoneCard] = zone_cards(
        session, period_start, period_end, media_dir, out_dir, base_url, camera_zones, shifts, tz, facts
    )
    if settings is not None and settings.zones:  # a zone only reports name: a typo in their zone field?
        known = {z.id for z in settings.zones}
        cards = [c.model_copy(update={"unconfigured": c.zone_id not in known}) for c in cards]
    polygons = {z.id: z.map_polygon for z in settings.zones if z.map_polygon} if settings else {}
    figures: dict[str, bytes | None] = {
        "site_map": plots.site_map(
            polygons,
            {c.zone_id: c.level for c in cards},
            {c.zone_id: c.score for c in cards},
            settings.site.name if settings else "",
        ),
        "heatmap": plots.alerts_heatmap(_alert_times(session, period_start, period_end), tz),
        "risk_history": plots.risk_history(risk_points(session, period_end)),
        "shift_zone": plots.shift_zone_heatmap(
            {c.zone_id: c.when.shift_counts for c in cards}, _shift_columns(cards, shifts)
        ),
    }
    for card in cards:
        figures[f"sensors_{card.zone_id}"] = sensor_figure(session, card.zone_id, period_start, period_end, tz)
        if card.when.weekday_hour is not None:
            figures[f"when_{card.zone_id}"] = plots.weekday_hour_heatmap(
                card.when.weekday_hour, f"Alerts + incidents in {card.zone_id} by weekday and hour", tz
            )
    suggestions: list[ThresholdSuggestion] = suggest_threshold_changes(
        dismissal_rates(session, period_start, period_end), settings
    )
    return {
        "site_name": settings.site.name if settings else "Floorwatch site",
        "site_tz": tz,
        "period_start": period_start,
        "period_end": period_end,
        "generated_at": datetime.now(UTC),
        "base_url": base_url,
        "cards": cards,
        "figures": {k: v for k, v in figures.items() if v is not None},
        "uris": {k: png_data_uri(v) for k, v in figures.items() if v is not None},
        "suggestions": suggestions,
        "unplaced": unplaced_reports(session, period_start, period_end),
        "unread": unread_reports(session, period_start, period_end),
    }


def render_report(
    session: Session,
    period_start: datetime,
    period_end: datetime,
    media_dir: Path,
    out_dir: Path,
    base_url: str | None = None,
    settings: Settings | None = None,
    facts: Mapping[str, ZoneFacts] | None = None,
) -> ReportPaths:
    """Render ``report.html`` (self-contained) and ``report.md`` (+ ``figures/*.png``) into ``out_dir``.

    Args:
        session: open session on the shared database.
        period_start: start of the reported period (aware).
        period_end: end of the reported period (aware).
        media_dir: the media root; alert snapshots are read (only) from inside it.
        out_dir: folder to write into (created).
        base_url: dashboard URL; evidence links then point at its pages, else at media files.
        settings: configuration, for the site name, time zone, map polygons and rule thresholds.
        facts: per zone, what the risk job computed for this period (``RiskReport.facts``); those zones'
            evidence and time patterns are rendered as given, the others are read from the database.

    Raises:
        ValueError: naive datetimes or ``period_start > period_end``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = build_context(session, period_start, period_end, Path(media_dir), out_dir, base_url, settings, facts)
    env = _env()
    fig_dir = out_dir / "figures"
    fig_paths = []
    if ctx["figures"]:
        fig_dir.mkdir(exist_ok=True)
        for name, png in ctx["figures"].items():
            fig_paths.append(fig_dir / f"{name}.png")
            _write_atomic(fig_paths[-1], png)
    html = env.get_template("report.html.j2").render(**ctx)
    md = env.get_template("report.md.j2").render(**ctx)
    paths = ReportPaths(html=out_dir / "report.html", markdown=out_dir / "report.md", figures=fig_paths)
    _write_atomic(paths.html, html.encode("utf-8"))
    _write_atomic(paths.markdown, md.encode("utf-8"))
    return paths
