"""When risk happens: shift mapping (wrap past midnight), time-weighted buckets, Wilson bounds, chi-square, heat."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import ShiftConfig, SiteConfig
from floorwatch.schemas.tables import Alert, Camera, IncidentReport, SensorAnomaly, Zone
from floorwatch.signals.time_patterns import (
    NO_SHIFT,
    analyse_times,
    exposure,
    overheating_summary,
    shift_of,
    summarize_time_patterns,
    time_patterns,
    wilson_interval,
)
from floorwatch.storage.db import session_scope

SHIFTS = SiteConfig().shifts  # morning 06-14, afternoon 14-22, night 22-06
MONDAY = datetime(2024, 3, 4, tzinfo=UTC)


def _shift(name: str, start: str, end: str) -> ShiftConfig:
    return ShiftConfig(name=name, start=time.fromisoformat(start), end=time.fromisoformat(end))


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        ("06:00", "morning"),
        ("13:59", "morning"),
        ("14:00", "afternoon"),
        ("21:59", "afternoon"),
        ("22:00", "night"),
        ("23:59", "night"),
        ("00:00", "night"),
        ("05:59", "night"),
    ],
)
def test_default_shifts_wrap_past_midnight(clock: str, expected: str) -> None:
    assert shift_of(time.fromisoformat(clock), SHIFTS) == expected


def test_uncovered_time_and_whole_day_shift() -> None:
    day_only = [_shift("day", "08:00", "16:00")]
    assert [shift_of(time(h), day_only) for h in (7, 8, 15, 16)] == [NO_SHIFT, "day", "day", NO_SHIFT]
    assert shift_of(time(3), [_shift("all", "00:00", "00:00")]) == "all"


def test_exposure_weights_partial_weeks_and_uncovered_time() -> None:
    exp = exposure(
        MONDAY, MONDAY + timedelta(days=10), UTC, [_shift("day", "08:00", "16:00")]
    )  # Mon..Wed twice
    assert exp["weekday"]["Mon"] == exp["weekday"]["Wed"] == 2 * 1440 and exp["weekday"]["Thu"] == 1440
    assert exp["shift"]["day"] == 10 * 480 and exp["shift"][NO_SHIFT] == 10 * 960
    assert set(exp["hour"].values()) == {10 * 60}
    with pytest.raises(ValueError, match="empty window"):
        exposure(MONDAY, MONDAY, UTC, SHIFTS)


def test_buckets_use_site_local_time() -> None:
    event = datetime(2024, 3, 4, 21, 30, tzinfo=UTC)  # 22:30 in Berlin (UTC+1): Monday, night shift
    tp = analyse_times(
        "press",
        {"alert": [event, MONDAY - timedelta(hours=1)]},
        MONDAY,
        MONDAY + timedelta(days=7),
        SHIFTS,
        "Europe/Berlin",
    )
    counts = {
        dim: {b.label: b.count for b in tp.get("alert", dim).buckets if b.count}
        for dim in ("hour", "weekday", "shift")
    }
    assert counts == {
        "hour": {"22": 1},
        "weekday": {"Mon": 1},
        "shift": {"night": 1},
    }  # the event before start is ignored
    assert tp.weekday_hour["alert"][0][22] == 1 and sum(map(sum, tp.weekday_hour["alert"])) == 1
    shift = tp.get("alert", "shift")
    assert [b.label for b in shift.buckets] == ["morning", "afternoon", "night"]
    assert [b.expected_share for b in shift.buckets] == pytest.approx([1 / 3] * 3, abs=1e-3)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634), (1, 20, 0.0089, 0.2361)],
)
def test_wilson_interval_known_values(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_interval_contains_the_share_and_narrows_with_more_data() -> None:
    for k, n in [(3, 7), (30, 70), (300, 700)]:
        lo, hi = wilson_interval(k, n)
        assert 0 <= lo < k / n < hi <= 1
    assert (
        np.diff(
            [wilson_interval(k, n)[1] - wilson_interval(k, n)[0] for k, n in [(3, 7), (30, 70), (300, 700)]]
        ).max()
        < 0
    )
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_chi_square_rejects_skewed_and_accepts_uniform() -> None:
    end = MONDAY + timedelta(days=28)
    uniform = [
        MONDAY + timedelta(hours=h, minutes=17) for h in range(28 * 24)
    ]  # one event every hour of every day
    rng = np.random.default_rng(7)
    random_uniform = [MONDAY + timedelta(minutes=int(m)) for m in rng.integers(0, 28 * 1440, 400)]
    skewed = [MONDAY + timedelta(days=d, hours=23, minutes=10) for d in range(28)] + uniform[::24]
    tp = analyse_times("z", {"alert": skewed, "incident": uniform}, MONDAY, end, SHIFTS)
    night = tp.get("alert", "shift")
    assert (
        night.not_uniform()
        and night.p_value is not None
        and night.p_value < 1e-6
        and night.p_method == "chi2"
    )
    assert next(b for b in night.buckets if b.label == "night").over_represented
    assert tp.get("alert", "hour").not_uniform()
    for dim in ("hour", "weekday", "shift"):
        series = tp.get("incident", dim)
        assert (
            series.chi2 == pytest.approx(0)
            and series.p_value == pytest.approx(1)
            and not series.not_uniform()
        )
        assert not any(b.over_represented for b in series.buckets)
    loose = analyse_times("z", {"alert": random_uniform}, MONDAY, end, SHIFTS)
    assert all(not loose.get("alert", dim).not_uniform(0.01) for dim in ("hour", "weekday", "shift"))


def test_few_events_use_a_simulated_p_value() -> None:
    events = [MONDAY + timedelta(days=d, hours=2) for d in range(6)]  # 6 events, all at 02:00
    series = analyse_times("z", {"alert": events}, MONDAY, MONDAY + timedelta(days=7), SHIFTS).get(
        "alert", "hour"
    )
    assert not series.reliable and series.p_method == "monte_carlo"
    assert series.p_value is not None and series.p_value < 0.001
    empty = analyse_times("z", {"alert": []}, MONDAY, MONDAY + timedelta(days=7), SHIFTS).get("alert", "hour")
    assert (empty.total, empty.p_value, empty.peak) == (0, None, None)


def test_summary_names_the_skewed_shift() -> None:
    events = [MONDAY + timedelta(days=d, hours=23) for d in range(20)] + [
        MONDAY + timedelta(days=d, hours=9) for d in range(4)
    ]
    text = summarize_time_patterns(
        analyse_times("press", {"alert": events, "incident": []}, MONDAY, MONDAY + timedelta(days=28), SHIFTS)
    )
    assert (
        "alerts (n=24) by shift: morning 4 (17% vs 33% of time), afternoon 0 (0% vs 33% of time), night 20"
        in text
    )
    assert "over-represented: night (20, 83%" in text and "- incidents: none" in text


# --------------------------------------------------------------------------- database
def _seed(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        s.add_all([Zone(id="press"), Zone(id="dock"), Camera(id="cam1")])
        s.flush()
        for i, (zone, hour, review) in enumerate(
            [
                ("press", 23, "none"),
                ("press", 1, "acknowledged"),
                ("press", 10, "dismissed"),
                ("dock", 23, "none"),
            ]
        ):
            t = MONDAY + timedelta(days=i, hours=hour)
            s.add(
                Alert(
                    id=f"a{i}",
                    rule="missing_ppe",
                    severity="medium",
                    zone_id=zone,
                    camera_id="cam1",
                    started_at=t,
                    last_seen_at=t,
                    review=review,
                )
            )
        s.add(
            IncidentReport(
                source="log",
                source_id="r1",
                content_hash="h",
                zone_id="press",
                original_text="x",
                redacted_text="x",
                occurred_at=MONDAY + timedelta(hours=15),
            )
        )
        s.add(  # a date alone: counted on its weekday, not in the night shift or at hour 00
            IncidentReport(
                source="log",
                source_id="r3",
                content_hash="h",
                zone_id="press",
                original_text="x",
                redacted_text="x",
                occurred_at=MONDAY + timedelta(days=2),
                time_of_day_known=False,
            )
        )
        s.add(
            IncidentReport(
                source="log",
                source_id="r2",
                content_hash="h",
                zone_id="press",
                original_text="x",
                redacted_text="x",
                occurred_at=None,
            )
        )
        for i, (asset, category, day) in enumerate(
            [
                ("press-2", "overheating", 1),
                ("press-2", "overheating", 3),
                ("press-2", "overheating", 40),
                ("press-2", "vibration", 2),
                ("pump-1", "overheating", 2),
                ("press-2", "overheating", 5),
            ]
        ):
            t = MONDAY + timedelta(days=day)
            s.add(
                SensorAnomaly(
                    id=f"an{i}",
                    zone_id="press",
                    asset=asset,
                    started_at=t,
                    ended_at=t + timedelta(minutes=5),
                    score=float(10 + i),
                    category=category,
                )
            )


def test_time_patterns_and_overheating_from_the_database(migrated_db: sessionmaker[Session]) -> None:
    _seed(migrated_db)
    end = MONDAY + timedelta(days=28)
    with session_scope(migrated_db) as s:
        tp = time_patterns(s, "press", MONDAY, end, SHIFTS)
        with_dismissed = time_patterns(s, "press", MONDAY, end, SHIFTS, include_dismissed=True)
        heat = overheating_summary(s, "press", MONDAY, end)
    shift = {b.label: b.count for b in tp.get("alert", "shift").buckets}
    assert shift == {"morning": 0, "afternoon": 0, "night": 2}  # dismissed and other-zone alerts left out
    assert with_dismissed.get("alert", "shift").total == 3
    assert {b.label: b.count for b in tp.get("incident", "shift").buckets} == {
        "morning": 0,
        "afternoon": 1,
        "night": 0,
    }
    assert tp.get("incident", "shift").date_only == 1 and tp.get("incident", "weekday").total == 2
    assert [(a.asset, a.count, a.repeated) for a in heat.assets] == [
        ("press-2", 3, True),
        ("pump-1", 1, False),
    ]
    assert heat.assets[0].anomaly_ids == ["an0", "an1", "an5"] and heat.assets[0].max_score == 15.0
    (signal,) = heat.signals
    assert (signal.category, signal.asset, signal.evidence_ids) == (
        "machine",
        "press-2",
        ["an0", "an1", "an5"],
    )
    assert "press-2 overheated 3 times" in signal.description


def test_an_event_at_the_end_of_the_period_is_counted_like_in_the_zone_evidence() -> None:
    """The demo's Press Line card listed 3 incidents but its time block said 'Incidents (2)': the last was at the end."""
    end = MONDAY + timedelta(days=7)
    tp = analyse_times("press", {"incident": [MONDAY, end, end + timedelta(seconds=1)]}, MONDAY, end, SHIFTS, "UTC")
    assert sum(b.count for b in tp.get("incident", "weekday").buckets) == 2


def test_a_burst_on_one_day_is_not_tested_for_a_recurring_pattern() -> None:
    """16 alerts within 77 s of one replay showed 'morning shift, p < 0.001' and 'on Wednesdays' in the demo."""
    burst = [MONDAY + timedelta(hours=7, seconds=5 * i) for i in range(16)]
    one_day = analyse_times("dock", {"alert": burst}, MONDAY, MONDAY + timedelta(days=14), SHIFTS, "UTC")
    for dim in ("hour", "shift", "weekday"):
        s = one_day.get("alert", dim)
        assert s.p_value is None and s.total == 16 and s.untested is not None
    assert "two days" in (one_day.get("alert", "shift").untested or "")
    # the same burst on two days in two weeks is a pattern that can be tested
    twice = burst + [t + timedelta(days=8) for t in burst]
    tested = analyse_times("dock", {"alert": twice}, MONDAY, MONDAY + timedelta(days=14), SHIFTS, "UTC")
    assert all(tested.get("alert", dim).p_value is not None for dim in ("hour", "shift", "weekday"))


def test_dates_without_a_time_of_day_count_by_weekday_not_by_hour_or_shift() -> None:
    """An export of dates alone stored every incident at 00:00: the hour and shift series read them as a night
    cluster ("incidents cluster by hour: 00"), a claim the reports never made."""
    dates = [MONDAY + timedelta(days=d) for d in (0, 2, 7, 9, 14)]
    clock = [MONDAY + timedelta(days=1, hours=10), MONDAY + timedelta(days=8, hours=15)]
    end = MONDAY + timedelta(days=21)
    tp = analyse_times("press", {"incident": clock}, MONDAY, end, SHIFTS, "UTC", dates_only={"incident": dates})
    hour, shift, weekday = (tp.get("incident", d) for d in ("hour", "shift", "weekday"))
    assert (hour.total, shift.total, weekday.total) == (2, 2, 7)
    assert (hour.date_only, shift.date_only, weekday.date_only) == (5, 5, 0)
    assert next(b for b in hour.buckets if b.label == "00").count == 0
    assert sum(map(sum, tp.weekday_hour["incident"])) == 2
    assert "date but no time of day (n=5)" in summarize_time_patterns(tp)
    only_dates = analyse_times("press", {"incident": []}, MONDAY, end, SHIFTS, "UTC", dates_only={"incident": dates})
    assert only_dates.get("incident", "hour").p_value is None
    assert only_dates.get("incident", "hour").untested == "no time of day: the 5 incidents have a date only"
    assert only_dates.get("incident", "weekday").total == 5


def test_the_when_line_says_how_many_have_a_time_of_day() -> None:
    """One timed incident and ten dated ones read 'Incidents (11): all on one day', which is true of one of them."""
    from floorwatch.review.report_when import pattern_lines

    dates = [MONDAY + timedelta(days=d) for d in range(0, 20, 2)]
    tp = analyse_times("press", {"incident": [MONDAY + timedelta(hours=10)], "alert": []}, MONDAY, MONDAY + timedelta(days=21),
                       SHIFTS, "UTC", dates_only={"incident": dates})
    (line,) = pattern_lines(tp)
    assert line.startswith("Incidents (11; 1 with a time of day): ") and "10 of them have a date only" in line
    one = analyse_times("press", {"incident": [MONDAY + timedelta(hours=10), MONDAY + timedelta(days=9, hours=10)],
                                  "alert": []}, MONDAY, MONDAY + timedelta(days=21), SHIFTS, "UTC",
                        dates_only={"incident": [MONDAY + timedelta(days=3)]})
    assert "1 of them has a date only: it counts by weekday" in pattern_lines(one)[0]
