"""*When* risk happens: alerts and incidents per hour of day, day of week and shift, and machine heat.

Counts are taken in site-local time. Each bucket gets a Wilson 95% interval on its share of events,
and each series a chi-square goodness-of-fit test against a *time-weighted* uniform pattern: a
bucket's expected share is the share of the analysed window it covers (an 8-hour shift covers 1/3
of a day; a 10-day window holds two Mondays and one Sunday...), so partial weeks and daylight-saving
days do not fake a pattern. Dismissed alerts (false positives) are left out by default.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from scipy import stats
from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.config import ShiftConfig
from floorwatch.schemas.tables import Alert, IncidentReport, SensorAnomaly
from floorwatch.schemas.time_patterns import (
    WEEKDAYS,
    AssetHeat,
    HazardSignal,
    OverheatingSummary,
    PatternBucket,
    PatternDimension,
    PatternKind,
    PatternSeries,
    TimePatterns,
)

Z95 = 1.959963984540054
NO_SHIFT = "(no shift)"
EXPOSURE_STEP_MINUTES = 5
MAX_WINDOW_DAYS = 3660
MONTE_CARLO_DRAWS = 20_000
# Below this many events no verdict on a time pattern is given, in the report ("too few to tell") and in what the
# LLM is told (a p-value of 0.045 from 2 of 2 incidents in one hour is not a pattern a manager should act on).
MIN_EVENTS = 5
_KINDS: tuple[PatternKind, ...] = ("alert", "incident")
_DIMENSIONS: tuple[PatternDimension, ...] = ("hour", "weekday", "shift")
_SUMMARY_DIMENSIONS: tuple[PatternDimension, ...] = ("shift", "hour", "weekday")


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (``(0, 1)`` when ``n == 0``).

    ``z`` is the normal quantile of the two-sided level (1.96 for 95%); computed by
    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.
    """
    if n <= 0:
        return 0.0, 1.0
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=float(2 * stats.norm.cdf(z) - 1), method="wilson")
    return max(0.0, float(ci.low)), min(1.0, float(ci.high))


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def shift_of(t: time, shifts: Sequence[ShiftConfig]) -> str:
    """Name of the first shift holding local clock time ``t`` (``[start, end)``, wrapping past midnight).

    A shift whose start equals its end covers the whole day; time no shift covers is ``(no shift)``.
    """
    m = _minutes(t)
    for s in shifts:
        a, b = _minutes(s.start), _minutes(s.end)
        if a == b or (a < b and a <= m < b) or (a > b and (m >= a or m < b)):
            return s.name
    return NO_SHIFT


def _shift_labels(shifts: Sequence[ShiftConfig]) -> list[str]:
    return list(dict.fromkeys(s.name for s in shifts))


def exposure(
    start: datetime, end: datetime, tz: ZoneInfo, shifts: Sequence[ShiftConfig]
) -> dict[str, Counter[str]]:
    """Minutes of the window ``[start, end)`` falling in each hour, weekday and shift bucket (site-local time)."""
    if end <= start:
        raise ValueError(f"empty window: start {start.isoformat()} is not before end {end.isoformat()}")
    if (end - start).days > MAX_WINDOW_DAYS:
        raise ValueError(f"window of {(end - start).days} days is over the limit of {MAX_WINDOW_DAYS}")
    steps = pd.date_range(start, end, freq=f"{EXPOSURE_STEP_MINUTES}min", inclusive="left").tz_convert(tz)
    hours = np.asarray(steps.hour)
    minute_of_day = hours * 60 + np.asarray(steps.minute)
    shift_names = np.full(len(steps), NO_SHIFT, dtype=object)
    for s in reversed(shifts):  # reversed so the first matching shift wins, as in shift_of
        a, b = _minutes(s.start), _minutes(s.end)
        mask = (
            np.ones(len(steps), bool)
            if a == b
            else (
                (minute_of_day >= a) & (minute_of_day < b)
                if a < b
                else (minute_of_day >= a) | (minute_of_day < b)
            )
        )
        shift_names[mask] = s.name
    w = EXPOSURE_STEP_MINUTES
    return {
        "hour": Counter(
            {f"{h:02d}": int(c) * w for h, c in zip(*np.unique(hours, return_counts=True), strict=True)}
        ),
        "weekday": Counter(
            {
                WEEKDAYS[d]: int(c) * w
                for d, c in zip(*np.unique(steps.day_of_week, return_counts=True), strict=True)
            }
        ),
        "shift": Counter(
            {
                str(n): int(c) * w
                for n, c in zip(*np.unique(shift_names.astype(str), return_counts=True), strict=True)
            }
        ),
    }


def _labels(dimension: PatternDimension, shifts: Sequence[ShiftConfig], exp: Counter[str]) -> list[str]:
    if dimension == "hour":
        return [f"{h:02d}" for h in range(24)]
    if dimension == "weekday":
        return list(WEEKDAYS)
    labels = _shift_labels(shifts)
    return labels + [NO_SHIFT] if exp.get(NO_SHIFT) else labels


def build_series(
    kind: PatternKind, dimension: PatternDimension, counts: Counter[str], exp: Counter[str], labels: list[str],
    untested: str | None = None,
) -> PatternSeries:
    """Buckets with Wilson intervals and a chi-square test against the time-weighted uniform.

    ``untested``: the reason not to test (the events cannot show a recurring pattern); buckets only."""
    total = sum(counts[label] for label in labels)
    exp_total = sum(exp[label] for label in labels) or 1
    buckets = []
    for label in labels:
        lo, hi = wilson_interval(counts[label], total)
        buckets.append(
            PatternBucket(
                label=label,
                count=counts[label],
                share=counts[label] / total if total else 0.0,
                ci_low=round(lo, 4),
                ci_high=round(hi, 4),
                expected_share=round(exp[label] / exp_total, 4),
            )
        )
    live = [label for label in labels if exp[label] > 0]
    if total == 0 or len(live) < 2 or untested:
        return PatternSeries(kind=kind, dimension=dimension, total=total, buckets=buckets,
                             untested=untested if total else None)
    observed = np.array([counts[label] for label in live], float)
    expected = np.array([exp[label] for label in live], float)
    expected = expected / expected.sum() * observed.sum()
    chi2, p = stats.chisquare(observed, expected)
    reliable = bool(expected.min() >= 5)
    if (
        not reliable
    ):  # few events per bucket: the chi-square distribution is off, simulate the statistic instead
        p = monte_carlo_p(observed, expected)
    return PatternSeries(
        kind=kind,
        dimension=dimension,
        total=total,
        buckets=buckets,
        chi2=round(float(chi2), 4),
        p_value=float(p),
        dof=len(live) - 1,
        reliable=reliable,
        p_method="chi2" if reliable else "monte_carlo",
    )


def monte_carlo_p(observed: np.ndarray, expected: np.ndarray, draws: int = MONTE_CARLO_DRAWS, seed: int = 0) -> float:
    """P-value of the chi-square statistic of ``observed`` counts against ``expected`` counts (same total),
    with the null distribution simulated from ``draws`` multinomial samples (fixed seed).

    Uses ``scipy.stats.monte_carlo_test`` (one-sided: larger statistics are more extreme); the p-value is
    (1 + simulated statistics >= observed) / (draws + 1).
    """
    n = int(round(expected.sum()))
    probs = expected / expected.sum()
    rng = np.random.default_rng(seed)

    def chi_square(x: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.asarray(((x - expected) ** 2 / expected).sum(axis=axis))

    res = stats.monte_carlo_test(
        observed,
        rvs=lambda size: rng.multinomial(n, probs, size=size[:-1]),
        statistic=chi_square,
        vectorized=True,
        n_resamples=draws,
        alternative="greater",
        axis=-1,
    )
    return float(res.pvalue)


def analyse_times(
    zone_id: str,
    times: dict[PatternKind, Iterable[datetime]],
    start: datetime,
    end: datetime,
    shifts: Sequence[ShiftConfig],
    tz: str | ZoneInfo = "UTC",
    dates_only: Mapping[PatternKind, Iterable[datetime]] | None = None,
) -> TimePatterns:
    """Bucket event start times (aware datetimes) of each kind; times outside ``[start, end]`` are ignored (the
    end is included, like the zone's evidence: a report at the end of the period is counted in both).

    ``dates_only``: events of a kind known by their date alone (stored at 00:00 site time, e.g. an incident export
    without a time column's time of day). They count by weekday, never by hour or shift - 00:00 is no hour they
    happened at - and each hour and shift series says how many it leaves out (``PatternSeries.date_only``).
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    exp = exposure(start, end, zone, shifts)
    series: list[PatternSeries] = []
    heat: dict[str, list[list[int]]] = {}
    undated = dates_only or {}
    for kind, raw in times.items():
        local = [t.astimezone(zone) for t in raw if start <= t <= end]
        days_only = [t.astimezone(zone) for t in undated.get(kind, ()) if start <= t <= end]
        counts = {
            "hour": Counter(f"{t.hour:02d}" for t in local),
            "weekday": Counter(WEEKDAYS[t.weekday()] for t in local + days_only),
            "shift": Counter(shift_of(t.time(), shifts) for t in local),
        }
        # A recurring pattern needs repeats: an hour or shift pattern events on two days or more, a weekday
        # pattern events in two weeks or more. 16 alerts of one 77-second burst are one occasion, not a
        # morning-shift or Wednesday pattern (the demo's dock showed p < 0.001 for both).
        days = len({t.date() for t in local})
        weeks = len({t.isocalendar()[:2] for t in local + days_only})
        if not local and days_only:
            no_clock = f"no time of day: the {len(days_only)} {kind}s have a date only"
            why = {"hour": no_clock, "shift": no_clock}
        else:
            why = {
                "hour": "all on one day: an hour pattern needs events on two days or more" if days < 2 else None,
                "shift": "all on one day: a shift pattern needs events on two days or more" if days < 2 else None,
            }
        why["weekday"] = "all in one week: a weekday pattern needs events in two weeks or more" if weeks < 2 else None
        for dim in _DIMENSIONS:
            built = build_series(kind, dim, counts[dim], exp[dim], _labels(dim, shifts, exp[dim]), why[dim])
            if dim != "weekday" and days_only:  # build_series drops the reason of an empty series: keep this one
                built = built.model_copy(update={"date_only": len(days_only), "untested": built.untested or why[dim]})
            series.append(built)
        matrix = [[0] * 24 for _ in range(7)]
        for t in local:
            matrix[t.weekday()][t.hour] += 1
        heat[kind] = matrix
    return TimePatterns(
        zone_id=zone_id, start=start, end=end, timezone=zone.key, series=series, weekday_hour=heat
    )


def time_patterns(
    session: Session,
    zone_id: str,
    start: datetime,
    end: datetime,
    shifts: Sequence[ShiftConfig],
    tz: str | ZoneInfo = "UTC",
    include_dismissed: bool = False,
) -> TimePatterns:
    """Alerts (by start) and incidents (by occurrence time) of a zone bucketed by hour, weekday and shift.

    Args:
        session: database session.
        zone_id: zone to analyse.
        start: window start (aware).
        end: window end (aware, exclusive).
        shifts: ``settings.site.shifts``.
        tz: ``settings.site.timezone``.
        include_dismissed: count alerts a reviewer dismissed as false positives too.
    """
    q = select(Alert.started_at).where(
        Alert.zone_id == zone_id, Alert.started_at >= start, Alert.started_at <= end
    )
    if not include_dismissed:
        q = q.where(Alert.review != "dismissed")
    alerts = list(session.scalars(q))
    rows = session.execute(
        select(IncidentReport.occurred_at, IncidentReport.time_of_day_known).where(
            IncidentReport.zone_id == zone_id,
            IncidentReport.occurred_at >= start,
            IncidentReport.occurred_at <= end,
        )
    ).all()
    clocked = [t for t, known in rows if t is not None and known]
    dated = [t for t, known in rows if t is not None and not known]
    return analyse_times(
        zone_id, {"alert": alerts, "incident": clocked}, start, end, shifts, tz, dates_only={"incident": dated}
    )


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def summarize_time_patterns(tp: TimePatterns, alpha: float = 0.05) -> str:
    """A few compact lines of a zone's time patterns: shift split, over-represented buckets, test results."""
    lines = [f"Time patterns, zone {tp.zone_id}, {tp.start:%Y-%m-%d} to {tp.end:%Y-%m-%d} ({tp.timezone}):"]
    for kind in _KINDS:
        shift = next((s for s in tp.series if s.kind == kind and s.dimension == "shift"), None)
        if shift is None or shift.total + shift.date_only == 0:
            lines.append(f"- {kind}s: none")
            continue
        if shift.total:
            split = ", ".join(
                f"{b.label} {b.count} ({_pct(b.share)} vs {_pct(b.expected_share)} of time)"
                for b in shift.buckets
            )
            lines.append(f"- {kind}s (n={shift.total}) by shift: {split}")
        if shift.date_only:
            lines.append(f"- {kind}s with a date but no time of day (n={shift.date_only}): by weekday only")
        for dim in _SUMMARY_DIMENSIONS:
            s = tp.get(kind, dim)
            if s.p_value is None:
                continue
            # Buckets are only singled out once the whole series rejects uniform (guards against 24 tests at once).
            over = (
                [
                    f"{b.label} ({b.count}, {_pct(b.share)}, 95% CI {_pct(b.ci_low)}-{_pct(b.ci_high)})"
                    for b in s.buckets
                    if b.over_represented
                ]
                if s.not_uniform(alpha)
                else []
            )
            verdict = "not uniform" if s.not_uniform(alpha) else "consistent with uniform"
            caveat = "" if s.reliable else ", few events: simulated p"
            extra = f"; over-represented: {', '.join(over)}" if over else ""
            lines.append(f"  {dim}: chi-square p={s.p_value:.3g} ({verdict}{caveat}){extra}")
    return "\n".join(lines)


def overheating_summary(
    session: Session, zone_id: str, start: datetime, end: datetime, min_repeats: int = 2
) -> OverheatingSummary:
    """Overheating anomalies per asset in ``[start, end)``; an asset with ``min_repeats`` or more is a machine hazard.

    Args:
        session: database session.
        zone_id: zone the assets stand in.
        start: window start (aware).
        end: window end (aware, exclusive).
        min_repeats: anomalies on one asset that make a ``machine`` hazard signal.
    """
    rows = list(
        session.scalars(
            select(SensorAnomaly)
            .where(
                SensorAnomaly.zone_id == zone_id,
                SensorAnomaly.category == "overheating",
                SensorAnomaly.started_at >= start,
                SensorAnomaly.started_at <= end,
            )
            .order_by(SensorAnomaly.asset, SensorAnomaly.started_at)
        )
    )
    by_asset: dict[str, list[SensorAnomaly]] = defaultdict(list)
    for row in rows:
        by_asset[row.asset].append(row)
    assets: list[AssetHeat] = []
    signals: list[HazardSignal] = []
    for asset, items in sorted(by_asset.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        heat = AssetHeat(
            asset=asset,
            count=len(items),
            first_at=items[0].started_at,
            last_at=items[-1].started_at,
            max_score=max(a.score for a in items),
            anomaly_ids=[a.id for a in items],
            repeated=len(items) >= min_repeats,
        )
        assets.append(heat)
        if heat.repeated:
            signals.append(
                HazardSignal(
                    zone_id=zone_id,
                    asset=asset,
                    evidence_ids=heat.anomaly_ids,
                    description=f"{asset} overheated {heat.count} times between {heat.first_at:%Y-%m-%d %H:%M} and "
                    f"{heat.last_at:%Y-%m-%d %H:%M} UTC (max score {heat.max_score:.1f})",
                )
            )
    return OverheatingSummary(zone_id=zone_id, start=start, end=end, assets=assets, signals=signals)
