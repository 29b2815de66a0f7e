"""Dates, times of day and evidence ids in a claim or a fact, read as such (pure; used by ``llm.verify``).

The verifier compares every number of a claim with the numbers of the facts it cites. Read digit by digit, a
fact's date "2024-03-20" and time "07:30" hold the numbers 2024, 3, 20, 7 and 30, and an alert id "a3" or a
report number "incident report 7" holds 3 and 7 - so "3 near misses", "March 3", "at 7 p.m." or "a 20-minute
stop" passed against a fact that says none of them. Here each is read as what it is:

* a date a claim writes ("2024-03-20", "March 20", "20 March 2024", "Mar. 20th", "03/20/2024", a month and year
  "March 2024", a bare year "2024") must be a date of a cited fact or of the period, to the precision written (a
  day and month; also the year where given). A numeric date with slashes may be day/month or month/day: either
  reading passes;
* a time of day ("7:30", "7:30 AM", "19:30", "7 p.m.") must be a time of a cited fact, on the 24-hour clock
  (a bare "7:30" is 07:30, not 19:30);
* an evidence id ("incident 7", "incident report 7", "report #7", "alert a3", "camera cam1", any letters+digits
  token such as ``pump_3``) must be an id of a cited fact;
* what remains is the text whose numbers count, measure or score something; a fact's dates, times and ids are
  not among its numbers.

No wording here comes from a data set: the date and time forms are the common English ones (ISO 8601, month
names, 12- and 24-hour clocks).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"((?:19|20)\d\d)"
# One alternative per form; the groups of each are read by _date_of.
_DATE = re.compile(
    rf"(?<![\w-])(?P<iso>{_YEAR}-(\d{{1,2}})-(\d{{1,2}}))(?![\w-])"
    rf"|\b(?P<md>{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?)\b"
    rf"|\b(?P<dm>{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?)\b"
    rf"|\b(?P<my>{_MONTH},?\s+{_YEAR})\b"
    rf"|(?<![\w./-])(?P<slash>(\d{{1,2}})/(\d{{1,2}})(?:/(\d{{2}}|\d{{4}}))?)(?![\w/-])"
    rf"|(?<![\w.:-])(?P<year>{_YEAR})(?![\w.:-])",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"(?<![\w:.])(\d{1,2}):(\d{2})(?::\d{2})?(?:\s*([ap])\.?\s*m\b\.?)?(?![\w:])"
    r"|(?<![\w:.])(\d{1,2})\s*([ap])\.?\s*m\b\.?",
    re.IGNORECASE,
)
# "incident 7", "incident report 7", "report #7", "alert a3", "anomaly 12", "outage o1", "camera cam1"
_NAMED_ID = re.compile(
    r"\b(?:incident(?:\s+report)?|report|alert|anomaly|outage|camera)\s*(?:no\.?\s*|number\s+|[:#]\s*)?([a-z_-]*\d[\w-]*)\b",
    re.IGNORECASE,
)
# letters then digits: an id or a name (a3, cam1, pump_3, line-2); not a unit after a number ("40s", "5m")
_TOKEN_ID = re.compile(r"(?<![\w-])[a-z][a-z_-]*\d[\w-]*", re.IGNORECASE)


class Date(NamedTuple):
    """A date as written: the year and day may be unknown (None)."""

    year: int | None
    month: int
    day: int | None


class Calendar(NamedTuple):
    """What :func:`read_calendar` found in a text, and the text without it."""

    dates: list[list[Date]]  # per date written, its readings (two for an ambiguous d/m or m/d)
    times: list[tuple[int, int]]  # (hour 0-23, minute)
    ids: list[str]  # lower case
    rest: str


def _month(name: str) -> int:
    return _MONTHS.index(name[:3].lower()) + 1


def _valid(d: Date) -> bool:
    return 1 <= d.month <= 12 and (d.day is None or 1 <= d.day <= 31)


def _date_of(m: re.Match[str]) -> list[Date]:  # noqa: PLR0911 - one return per form
    g = m.groups()
    if m.group("iso"):
        return [Date(int(g[1]), int(g[2]), int(g[3]))]
    if m.group("md"):
        return [Date(int(g[7]) if g[7] else None, _month(g[5]), int(g[6]))]
    if m.group("dm"):
        return [Date(int(g[11]) if g[11] else None, _month(g[10]), int(g[9]))]
    if m.group("my"):
        return [Date(int(g[14]), _month(g[13]), None)]
    if m.group("slash"):
        a, b, y = int(g[16]), int(g[17]), g[18]
        year = (2000 + int(y) if len(y) == 2 else int(y)) if y else None
        return [d for d in (Date(year, b, a), Date(year, a, b)) if _valid(d)]  # day/month, month/day
    return [Date(int(g[20]), 0, None)]  # a bare year: month 0 = any


def _hour(h: int, half: str | None) -> int:
    if not half:
        return h
    return h % 12 + (12 if half.lower() == "p" else 0)


def read_calendar(text: str) -> Calendar:
    """Dates, times of day and evidence ids of ``text``, and ``text`` with each replaced by a space."""
    ids = [m.group(1).lower() for m in _NAMED_ID.finditer(text)]
    rest = _NAMED_ID.sub(" ", text)
    times = []
    for m in _TIME.finditer(rest):
        if m.group(1) is not None:
            times.append((_hour(int(m.group(1)), m.group(3)), int(m.group(2))))
        else:
            times.append((_hour(int(m.group(4)), m.group(5)), 0))
    rest = _TIME.sub(" ", rest)
    dates = [readings for readings in (_date_of(m) for m in _DATE.finditer(rest)) if readings]
    rest = _DATE.sub(" ", rest)
    ids += [t.lower() for t in _TOKEN_ID.findall(rest)]
    rest = _TOKEN_ID.sub(" ", rest)
    return Calendar(dates, times, ids, rest)


def _same(said: Date, known: Date) -> bool:
    return (
        (said.month == 0 or said.month == known.month)
        and (said.day is None or said.day == known.day)
        and (said.year is None or said.year == known.year)
    )


def calendar_problem(claim: Calendar, support: Calendar, period_dates: list[Date]) -> str | None:
    """Why the dates, times or ids ``claim`` writes are not those of the cited facts (``support``), or None.

    ``period_dates``: the period's first and last day, which a claim may name whatever it cites.
    """
    known = [d for readings in support.dates for d in readings] + period_dates
    for readings in claim.dates:
        if not any(_same(said, k) for said in readings for k in known):
            d = readings[0]
            written = "-".join(str(x) for x in (d.year, d.month or None, d.day) if x is not None)
            return f"the date {written} is in none of the cited facts"
    for h, mi in claim.times:
        if (h, mi) not in support.times:
            return f"the time {h:02d}:{mi:02d} is in none of the cited facts"
    for i in claim.ids:
        if i not in support.ids:
            return f"the id {i} is in none of the cited facts"
    return None
