"""The date layout of a whole time column: ISO 8601, day-first or month-first, proved from the data.

Spreadsheets export dates as ``17-01-2017 00:00`` (day first, Europe, Brazil) or ``01/17/2017 12:00``
(month first, US). A single value such as ``03/04/2017`` cannot tell the two apart, but a column
usually can: one value with a first component above 12 proves day-first, one with a second
component above 12 proves month-first. ``infer_time_format`` looks at every value of the column and
returns a strptime format; a column that proves neither (every day <= 12) or both is refused with
example values, and the user names the format (``--time-format``).

Only numeric layouts ``D M Y`` / ``M D Y`` / ``Y M D`` with ``-``, ``/`` or ``.`` between the parts are
inferred, with an optional time of day ``HH:MM[:SS[.ffffff]]`` after a space or ``T``; anything else
must be ISO 8601 or given with ``--time-format``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

ISO = "ISO 8601"
_TIME_SUFFIXES = (" %H:%M:%S.%f", " %H:%M:%S", " %H:%M", "T%H:%M:%S.%f", "T%H:%M:%S", "T%H:%M")
_NUMERIC_DATE = re.compile(
    r"^(?P<a>\d{1,4})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{2,4})"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?$"
)


class TimeFormatError(ValueError):
    """A time column whose layout cannot be inferred (ambiguous, mixed or unknown); shows examples."""


def _is_iso(s: str) -> bool:
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _examples(values: list[str], k: int = 3) -> str:
    return ", ".join(repr(v) for v in values[:k])


def infer_time_format(values: Iterable[Any], column: str = "time") -> str:
    """The format of a whole time column: ``ISO`` or a strptime date format such as ``%d-%m-%Y``.

    Values that are empty or already ``datetime``/``date`` are ignored; so are values in no known
    layout when others are (they fail later, row by row). A time of day after the date is accepted
    by ``parse_time`` with the returned date-only format.

    Args:
        values: every value of the column (strings as read from the file).
        column: the column name, for messages.

    Returns:
        ``ISO`` when every value is ISO 8601, else ``%d{sep}%m{sep}%Y``, ``%m{sep}%d{sep}%Y`` or
        ``%Y{sep}%m{sep}%d`` (``%y`` for two-digit years).

    Raises:
        TimeFormatError: ambiguous (no day above 12), contradictory, or an unknown layout; the
            message shows example values and asks for ``--time-format``.
    """
    texts = [str(v).strip() for v in values if v is not None and not isinstance(v, date | datetime) and str(v).strip()]
    if not texts or all(_is_iso(s) for s in texts):
        return ISO
    matches = [(s, _NUMERIC_DATE.match(s)) for s in texts]
    parts = [(s, m) for s, m in matches if m is not None]
    if not parts:
        if any(_is_iso(s) for s in texts):
            return ISO  # the values in no layout are rejected row by row
        raise TimeFormatError(
            f"column {column!r}: no value in a known date layout, e.g. {_examples(texts)}; "
            "give the layout with --time-format (strptime, e.g. '%d %b %Y %H:%M')"
        )
    seps = {m["sep"] for _, m in parts}
    if len(seps) > 1:
        raise TimeFormatError(f"column {column!r}: mixed date separators {sorted(seps)}, e.g. {_examples([s for s, _ in parts])}")
    sep = seps.pop()
    if all(len(m["a"]) == 4 for _, m in parts):
        return ISO if sep == "-" else f"%Y{sep}%m{sep}%d"  # YYYY-MM-DD is ISO 8601 (offsets, fractions too)
    if any(len(m["a"]) > 2 for _, m in parts):
        raise TimeFormatError(f"column {column!r}: mixed year-first and year-last dates, e.g. {_examples([s for s, _ in parts])}")
    year = "%Y" if all(len(m["c"]) == 4 for _, m in parts) else "%y" if all(len(m["c"]) == 2 for _, m in parts) else None
    if year is None:
        raise TimeFormatError(f"column {column!r}: mixed 2- and 4-digit years, e.g. {_examples([s for s, _ in parts])}")
    # A value with both parts above 12 is no date in either reading: its row is rejected later.
    day_first = [s for s, m in parts if int(m["a"]) > 12 >= int(m["b"])]
    month_first = [s for s, m in parts if int(m["b"]) > 12 >= int(m["a"])]
    if day_first and month_first:
        raise TimeFormatError(
            f"column {column!r}: both day-first ({_examples(day_first, 2)}) and month-first "
            f"({_examples(month_first, 2)}) dates; give the layout with --time-format"
        )
    if day_first:
        return f"%d{sep}%m{sep}%Y".replace("%Y", year)
    if month_first:
        return f"%m{sep}%d{sep}%Y".replace("%Y", year)
    if all(m["a"].lstrip("0") == m["b"].lstrip("0") for _, m in parts):
        return f"%d{sep}%m{sep}%Y".replace("%Y", year)  # day == month everywhere: either reading is the same
    raise TimeFormatError(
        f"column {column!r}: ambiguous dates, no value proves day-first or month-first (every first and second "
        f"part is 12 or less), e.g. {_examples(texts)}; give the layout with --time-format "
        f"(e.g. '%d{sep}%m{sep}{year}' or '%m{sep}%d{sep}{year}')"
    )


def shown_layout(fmt: str, values: Iterable[Any]) -> str:
    """``fmt`` (of :func:`infer_time_format`) as the values were read, with the time of day that follows the date:
    ``%d/%m/%Y %H:%M`` for "14/11/2026 03:40" (``fmt`` is date-only; ``parse_time`` reads the time all the same, and a
    date-only layout in a message suggested the times were dropped). Several layouts are joined with " or "."""
    if fmt == ISO:
        return ISO
    used: list[str] = []
    for v in values:
        if v is None or isinstance(v, date | datetime) or not str(v).strip():
            continue
        s = str(v).strip()
        found = next((f for f in (fmt, *(fmt + suf for suf in _TIME_SUFFIXES)) if fits(s, f)), None)
        if found is not None and found not in used:
            used.append(found)
            if len(used) > 3:
                break
    return " or ".join(used[:3]) + (" or ..." if len(used) > 3 else "") if used else fmt


def fits(value: str, fmt: str) -> bool:
    """Whether ``datetime.strptime(value, fmt)`` reads ``value``."""
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def parse_time(value: Any, fmt: str | None, tz: ZoneInfo) -> datetime | None:
    """Parse a time value (``fmt`` for strptime, ``None``/``ISO`` for ISO 8601); naive times are in ``tz``.

    A value with a time of day after a date-only ``fmt`` ("01-01-2016 00:00" for ``%d-%m-%Y``) is accepted.

    Returns:
        An aware UTC datetime, or ``None`` for an empty value.

    Raises:
        ValueError: the value cannot be parsed.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    fmt = None if fmt == ISO else fmt
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        s = str(value).strip()
        dt = None
        impossible = None  # the layout fits but the date does not exist ("31/02/2024": day is out of range for month)
        for f in (fmt, *(fmt + suf for suf in _TIME_SUFFIXES)) if fmt else ():
            try:
                dt = datetime.strptime(s, f)
                break
            except ValueError as exc:
                if "does not match format" not in str(exc) and "unconverted data remains" not in str(exc):
                    impossible = impossible or str(exc)
        if dt is None and impossible:
            raise ValueError(f"time {s!r} fits {fmt} but is not a real date or time ({impossible})")
        if dt is None and not fmt:
            try:
                dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
            except ValueError:
                dt = None
        if dt is None:
            raise ValueError(f"time {s!r} does not match {fmt or 'ISO 8601 (YYYY-MM-DD[ HH:MM[:SS]])'}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(UTC)


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def has_time_of_day(value: Any) -> bool:
    """Whether a time value as read from a file writes a time of day: ``"2016-01-08 14:30"``, a ``datetime`` and
    ISO ``"2016-01-08T14:30Z"`` do; ``"08/01/2016"``, a ``date`` and an empty value do not (``parse_time`` places a
    date alone at 00:00, which is no time of day the report gave)."""
    return written_clock(value) is not None


def midnight_is_a_date(local_times: Iterable[time]) -> bool:
    """Whether 00:00 in a column stands for "no time of day" (a date column exported with a time, as spreadsheets
    do: ``2016-01-01 00:00:00``), not for events at midnight.

    True when 00:00:00 occurs at least twice and more often than every other time of day of the column: real
    event times spread over the day, so a clock reading repeated more than any other, and that reading
    midnight, is the export's filler. A column with one 00:00 value, or whose rounded times repeat other
    readings as often ("08:00" as often as "00:00"), keeps its midnights as times.

    Args:
        local_times: the column's times of day as written (:func:`written_clock`; values without one left out).
    """
    counts = Counter(t.replace(microsecond=0) for t in local_times)
    midnight = counts.pop(time(0, 0), 0)
    return midnight >= 2 and midnight > max(counts.values(), default=0)


def written_clock(value: Any) -> time | None:
    """The time of day as the value writes it, before any time-zone conversion ("2024-03-05T00:00:00Z" -> 00:00,
    whatever the site's zone), or None when it writes none: a ``date``, an empty value, a date alone, or a clock
    that is no time of day ("25:00")."""
    if isinstance(value, datetime):
        return value.time().replace(microsecond=0)
    if isinstance(value, date) or value is None:
        return None
    m = _CLOCK.search(str(value))
    if m is None:
        return None
    h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    return time(h, mi, sec) if h < 24 and mi < 60 and sec < 60 else None
