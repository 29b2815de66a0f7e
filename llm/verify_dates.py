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
_MONTH = (  # capitalised, as dates are written: a lower-case "may" or "march" is a verb
    r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?<![\d.,])(\d{1,2})(?:st|nd|rd|th)?"
# a number that counts something is no day or year: "In November 16 dwell alerts", "2026 alerts", "16 times"
_COUNTS = r"(?!\s+(?:[A-Za-z-]+\s+){0,2}?(?:alerts?|incidents?|reports?|anomal\w*|outages?|items?|times|occasions|near[- ]miss\w*)\b)"
_YEAR = r"((?:19|20)\d\d)"
# One alternative per form; the groups of each are read by _date_of.
_DATE = re.compile(
    rf"(?<![\w-])(?P<iso>{_YEAR}-(\d{{1,2}})-(\d{{1,2}}))(?![\d-])"
    rf"|\b(?P<md>{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?)\b{_COUNTS}"
    rf"|\b(?P<dm>{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?)\b"
    rf"|\b(?P<my>{_MONTH},?\s+{_YEAR})\b{_COUNTS}"
    # with slashes only with a year: "4/5" is a fraction, "13/16" a share
    rf"|(?<![\w./-])(?P<slash>(\d{{1,2}})/(\d{{1,2}})/(\d{{4}}|\d{{2}}))(?![\w/-])"
    rf"|(?<![\w.:-])(?P<year>{_YEAR})(?![\w.:-]){_COUNTS}"
)
_TIME = re.compile(
    r"(?<![\d:.])(\d{1,2}):(\d{2})(?::\d{2})?(?:\s*([ap])\.?\s*m\b\.?)?(?!\w|:\d)"
    r"|(?<![\w:.])(\d{1,2})\s*([ap])\.?\s*m\b\.?",
    re.IGNORECASE,
)
# "incident 7", "incident report 7", "report #7", "alert a3", "incidents 7 and 8", "alerts a1, a2 and a3"
_ID = r"[a-z_]*\d\w*"
_SEP = r"\s*(?:,|&|and|to)\s*#?\s*"
_NAMED_ID = re.compile(
    r"\b(incidents?(?:\s+reports?)?|reports?|alerts?|anomal(?:y|ies)|outages?|cameras?)\s*(?:no\.?\s*|number\s+|[:#]\s*)?"
    # a list keeps the shape of its first id: numbers ("7 and 8", not "7 and 2 alerts") or letters+digits ("a0-a3, a5")
    rf"(\d+(?:{_SEP}\d+(?![\d:./-]){_COUNTS})*|[a-z_]+\d\w*(?:-[a-z_]+\d\w*)?(?:{_SEP}[a-z_]+\d\w*)*)\b"
    r"(?!\s+(?:times|occasions)\b)",
    re.IGNORECASE,
)
_KINDS = {"inci": "incident", "repo": "incident", "aler": "alert", "anom": "anomaly", "outa": "outage", "came": "camera"}
# letters then digits: an id or a name (a3, cam1, pump_3, line-2); not a unit after a number ("40s", "5m")
_TOKEN_ID = re.compile(r"(?<!\w)[a-z][a-z_-]*\d\w*", re.IGNORECASE)
# an hour bucket of a time-pattern fact ("alerts cluster by hour: 14 has 9 of 16"): any time in that hour
_HOUR_BUCKET = re.compile(r"\bby hour:\s*(\d{1,2})\b")


class Date(NamedTuple):
    """A date as written: the year and day may be unknown (None)."""

    year: int | None
    month: int
    day: int | None


class Calendar(NamedTuple):
    """What :func:`read_calendar` found in a text, and the text without it."""

    dates: list[list[Date]]  # per date written, its readings (two for an ambiguous d/m or m/d)
    times: list[tuple[int, int]]  # (hour 0-23, minute)
    hours: list[int]  # hour buckets of time-pattern facts (any minute of the hour)
    ids: list[str]  # lower case: "incident 7" / "alert a3" (kind and id) and "a3" (an id with letters, also alone)
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


def canonical_id(token: str) -> str:
    """An id compared without case, spaces, ``_`` and ``-`` ("Pump 3", "pump_3" and "pump-3" are one)."""
    return re.sub(r"[\s_-]+", "", token).lower()


def spell_ids_as(text: str, ids: list[str]) -> str:
    """``text`` with a name of the kind of ``ids`` written with spaces, ``_`` or ``-`` before its digits ("Pump 3",
    "pump-4" where an id is ``pump3``) written as one id, so a claim that names an asset the way people write it is
    read as naming that asset - or another one of the kind, whose id the facts then lack."""
    kinds = {m.group(1) for i in ids if (m := re.match(r"([a-z]{2,})\d", i))}  # not "a3": "a 3-metre gap" is no alert
    for kind in sorted(kinds, key=len, reverse=True):
        text = re.sub(rf"(?<!\w)({re.escape(kind)})[\s_-]*(\d+)(?!\w)", r"\1\2", text, flags=re.IGNORECASE)
    return text


def read_calendar(text: str) -> Calendar:
    """Dates, times of day and evidence ids of ``text``, and ``text`` with each replaced by a space."""
    ids = []
    for m in _NAMED_ID.finditer(text):
        kind = _KINDS[m.group(1)[:4].lower()]
        for i in re.findall(_ID, m.group(2), re.IGNORECASE):
            ids.append(f"{kind} {canonical_id(i)}")  # "incident 7" is no "alert 7"
            if re.search(r"[a-z]", i, re.IGNORECASE):
                ids.append(canonical_id(i))  # "alert a3" is also "a3"

    rest = _NAMED_ID.sub(" ", text)
    hours = [int(h) for h in _HOUR_BUCKET.findall(rest)]
    times = []
    for m in _TIME.finditer(rest):
        if m.group(1) is not None:
            times.append((_hour(int(m.group(1)), m.group(3)), int(m.group(2))))
        else:
            times.append((_hour(int(m.group(4)), m.group(5)), 0))
    rest = _TIME.sub(" ", rest)
    dates = [readings for readings in (_date_of(m) for m in _DATE.finditer(rest)) if readings]
    rest = _DATE.sub(lambda m: " " if _date_of(m) else m.group(0), rest)  # an impossible date stays numbers
    ids += [canonical_id(t) for t in _TOKEN_ID.findall(rest)]
    rest = _TOKEN_ID.sub(" ", rest)
    return Calendar(dates, times, hours, ids, rest)


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
        if (h, mi) not in support.times and h not in support.hours:
            return f"the time {h:02d}:{mi:02d} is in none of the cited facts"
    for i in claim.ids:
        bare = i.rpartition(" ")[2]
        if i not in support.ids and not (" " in i and re.search(r"[a-z]", bare) and bare in support.ids):
            return f"the id {i} is in none of the cited facts"
    return None
