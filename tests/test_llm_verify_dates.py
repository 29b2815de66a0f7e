"""Dates, times and ids in claims and facts (``llm.verify_dates``; pure logic)."""

from __future__ import annotations

import pytest

from floorwatch.llm.verify_dates import Date, calendar_problem, read_calendar


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("on 2024-03-20 07:30", [[Date(2024, 3, 20)]]),
        ("On March 20, 2024 at dawn", [[Date(2024, 3, 20)]]),
        ("on Mar. 20th", [[Date(None, 3, 20)]]),
        ("on the 20th of March 2024", [[Date(2024, 3, 20)]]),
        ("in March 2024", [[Date(2024, 3, None)]]),
        ("in 2024", [[Date(2024, 0, None)]]),
        ("on 20/03/2024", [[Date(2024, 3, 20)]]),  # 20 is no month: one reading
        ("on 02/11/2026", [[Date(2026, 11, 2), Date(2026, 2, 11)]]),  # day/month or month/day
        ("16 dwell alerts, 2 incident reports", []),
    ],
)
def test_dates_are_read_in_the_common_written_forms(text: str, dates: list[list[Date]]) -> None:
    assert read_calendar(text).dates == dates


def test_times_ids_and_what_is_left() -> None:
    cal = read_calendar("alert a3: dwell, camera cam1, 2026-11-02 19:30, lasted 40 s; incident report 7 at 7 p.m.")
    assert cal.times == [(19, 30), (19, 0)]
    assert cal.ids == ["alert a3", "a3", "camera cam1", "cam1", "incident 7"]  # kind and id; a lettered id also alone
    assert "40" in cal.rest and "2026" not in cal.rest and "7" not in cal.rest.replace("40", "")


def test_a_claim_passes_only_with_the_dates_times_and_ids_of_its_facts() -> None:
    facts = read_calendar("alert a3: dwell, camera cam1, 2026-11-02 11:00, lasted 40 s")
    period = [Date(2026, 11, 2), Date(2026, 11, 9)]
    assert calendar_problem(read_calendar("Alert a3 at 11:00 AM on 2 November"), facts, period) is None
    assert calendar_problem(read_calendar("By November 9 there was one alert"), facts, period) is None  # the period's end
    assert calendar_problem(read_calendar("At 11:00 PM"), facts, period) == "the time 23:00 is in none of the cited facts"
    assert calendar_problem(read_calendar("On 3 November"), facts, period) == "the date 11-3 is in none of the cited facts"
    assert calendar_problem(read_calendar("In 2025"), facts, period) == "the date 2025 is in none of the cited facts"
    assert calendar_problem(read_calendar("alert a4"), facts, period) == "the id alert a4 is in none of the cited facts"
