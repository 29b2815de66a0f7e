"""Sensor readings as a time series on a regular grid, whatever the file's rate and clock faults.

``read_sensor_table`` reads a wide sensor file with ``floorwatch.tabular`` (encoding, delimiter and
decimal comma detected; the time column found by name when not given; its date layout inferred by
``floorwatch.timeformat``). ``regularise`` then:

1. puts readings in time order, counting clock jumps back (a naive local clock going back at the
   autumn daylight-saving change is first resolved by the site time zone, in file order);
2. averages readings with the same timestamp (counted);
3. takes the sampling period as the median positive step between readings, so a 1 s test rig and a
   5 min plant log are handled alike;
4. places each reading on the nearest point of that grid and leaves grid points without readings
   empty (NaN): a gap stays a gap, it is not interpolated.

Every fix is described in ``notes`` (shown by ``floorwatch ingest sensors``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from floorwatch.tabular import TableError, decode, sniff_delimiter
from floorwatch.timeformat import ISO, TimeFormatError, fits, infer_time_format

LABEL_COLUMNS = ("anomaly", "changepoint")
MAX_GRID_POINTS = 20_000_000
_TIME_NAMES = re.compile(r"(^|[^a-z])(date|time|timestamp|datetime|ts|zeit|data|hora|fecha)([^a-z]|$)", re.I)
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+(?:\.\d{3})*,\d+(?:[eE][-+]?\d+)?\s*$")
_DECIMAL_POINT = re.compile(r"^\s*[-+]?\d*\.\d+\s*$")
_INTEGER = re.compile(r"^\s*[-+]?\d+\s*$")  # "13" in a decimal-comma column (a spreadsheet drops ",0")
_SHOWN_BAD = 3  # bad values shown per column after the first
_NUMERIC_TIME = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{2,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_SUFFIXES = ("", " %H:%M:%S.%f", " %H:%M:%S", " %H:%M", "T%H:%M:%S.%f", "T%H:%M:%S", "T%H:%M")


class SensorFileError(ValueError):
    """The sensor file cannot be used (missing time column, non-numeric columns, too short, ...)."""


@dataclass
class SensorSeries:
    """Channel values and labels on a regular UTC time grid (``period``); gaps are NaN rows."""

    values: pd.DataFrame
    labels: pd.DataFrame
    period: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(seconds=1))
    readings: int = 0
    notes: list[str] = field(default_factory=list)


def _looks_like_times(values: pd.Series) -> bool:
    head = values.dropna().astype(str).str.strip().head(50).tolist()
    try:
        infer_time_format(head)
    except TimeFormatError as exc:
        return "ambiguous" in str(exc)
    return bool(head) and all(_NUMERIC_TIME.match(v) or _is_iso_like(v) for v in head)


def _is_iso_like(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _find_time_column(df: pd.DataFrame, wanted: str | None, path: Path, sep: str) -> str:
    """The time column: ``wanted``, else the first named like a time, else the first whose values are dates."""
    columns = [str(c) for c in df.columns]
    shown = ", ".join(repr(c) for c in columns)
    if wanted is not None:
        if wanted not in columns:
            raise SensorFileError(f"{path}: no time column {wanted!r} (separator read as {sep!r}); columns: {shown}")
        return wanted
    named = [c for c in columns if _TIME_NAMES.search(c)] + [c for c in columns if _looks_like_times(df[c])]
    if not named:
        raise SensorFileError(f"{path}: no column holds times (give --time-column); columns: {shown}")
    return named[0]


def _parse_times(raw: pd.Series, column: str, path: Path, tz: ZoneInfo, notes: list[str], fmt: str | None,
                 line_of: Callable[[int], int]) -> pd.DatetimeIndex:
    """Aware UTC times in file order; naive local times resolved in ``tz`` (DST fall-back inferred from order).
    ``line_of``: the file line of a row (its position in ``raw``), for the error."""
    text = raw.astype(str).str.strip()
    inferred = fmt is None
    if fmt is None:
        try:
            fmt = infer_time_format(text.tolist(), column)
        except TimeFormatError as exc:
            raise SensorFileError(f"{path}: {exc}") from exc
    if fmt == ISO:
        full = "ISO 8601"
        times = pd.to_datetime(text, format="ISO8601", errors="coerce")
    else:
        first = text.iloc[0]
        full = next((fmt + s for s in _SUFFIXES if fits(first, fmt + s)), fmt)
        times = pd.to_datetime(text, format=full, errors="coerce")
    if inferred:  # the layout with the time of day read (%d/%m/%Y %H:%M), not only the date part that was inferred
        notes.append(f"time column {column!r}: {full} (inferred)")
    if times.isna().any():
        bad = np.flatnonzero(times.isna().to_numpy())[:5]
        shown = ", ".join(f"line {line_of(int(i))} {text.iloc[int(i)]!r}" for i in bad)
        raise SensorFileError(f"{path}: unparseable time in column {column!r}: {shown}")
    if times.dt.tz is None:
        try:
            times = times.dt.tz_localize(tz, ambiguous="infer", nonexistent="shift_forward")
        except (ValueError, TypeError):  # not in file order around the change: take standard time
            times = times.dt.tz_localize(tz, ambiguous=False, nonexistent="shift_forward")
    return pd.DatetimeIndex(times.dt.tz_convert(UTC), name="time")


def _source_lines(text: str, delim: str) -> list[int]:
    """The line of the file (1-based, as a text editor numbers it: the header is line 1) on which each data row
    that ``pandas.read_csv`` returns starts, in its order. pandas keeps no line numbers; this counts them with the
    ``csv`` module the way pandas reads the file: blank and whitespace-only lines skipped, a quoted value spanning
    lines kept in its row. Only called to word an error."""
    out: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    start = 1
    try:
        for row in reader:
            if len(row) > 1 or (row and row[0].strip()):
                out.append(start)
            start = reader.line_num + 1
    except csv.Error:  # pandas read it; the rows past here get the plain count (see the caller)
        pass
    return out[1:]  # the header


def _bad_values(name: str, col: pd.Series, bad: pd.Series, line_of: Callable[[int], int], comma: bool) -> str:
    """``line 17, column 'T': '12,5x' is not a number``, plus how many more bad values the column has (``comma``:
    the column is written with decimal commas, so a ``12.5`` in it is named as such)."""
    where = np.flatnonzero(bad.to_numpy())
    first, rest = int(where[0]), [int(i) for i in where[1:]]
    value = str(col.iloc[first]).strip()
    point = comma and not np.isnan(pd.to_numeric(value, errors="coerce"))
    odd_comma = not comma and bool(_DECIMAL_COMMA.match(value))
    problem = ("has a decimal point; the column's other values have a decimal comma" if point
               else "has a decimal comma; the column's other values have a decimal point" if odd_comma
               else "is not a number")
    line = f"line {line_of(first)}, column {name!r}: {value!r} {problem}"
    if rest:
        shown = ", ".join(f"line {line_of(i)} {str(col.iloc[i]).strip()!r}" for i in rest[:_SHOWN_BAD])
        line += f" (and {len(rest)} more in this column: {shown}{', ...' if len(rest) > _SHOWN_BAD else ''})"
    return line


def _numeric(df: pd.DataFrame, path: Path, decimal_comma_allowed: bool, notes: list[str],
             line_of: Callable[[int], int]) -> pd.DataFrame:
    """The channel columns as floats, a decimal comma read where the file allows it (not comma-separated) and a
    column's values are written so. ``line_of``: the file line of a row (its position in ``df``), for the error.

    Raises:
        SensorFileError: a value that is not a number, named by line, column and value (the first of each column).
    """
    out: dict[str, pd.Series] = {}
    bad: list[str] = []
    no_number: list[str] = []
    comma_cols: list[str] = []
    for c in df.columns:
        col = df[c]
        num = pd.to_numeric(col, errors="coerce")
        filled = col.notna() & (col.astype(str).str.strip() != "")
        if (num.notna() | ~filled).all():
            out[c] = num.astype(float)
            continue
        s = col.astype(str)
        # the column's style is that of most of its decimals: one "4,5" among "1.5" values is the odd one, not the rule
        commas = int(s[filled].str.match(_DECIMAL_COMMA).sum())
        points = int(s[filled].str.match(_DECIMAL_POINT).sum())
        comma = decimal_comma_allowed and commas > points
        if comma:
            wrong = filled & ~(s.str.match(_DECIMAL_COMMA) | s.str.match(_INTEGER))
            if not wrong.any():
                out[c] = pd.to_numeric(s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False),
                                       errors="coerce").where(filled)
                comma_cols.append(str(c))
                continue
        else:
            wrong = filled & num.isna()
        bad.append(_bad_values(str(c), col, wrong, line_of, comma))
        if wrong[filled].all():
            no_number.append(str(c))
    if bad:
        names = ", ".join(repr(c) for c in no_number)
        hint = (f"; only numeric channels are accepted: column{'s' if len(no_number) > 1 else ''} {names} "
                f"hold{'' if len(no_number) > 1 else 's'} no number") if no_number else ""
        raise SensorFileError(f"{path}: " + "; ".join(bad) + hint)
    if comma_cols:
        notes.append(f"decimal comma in {len(comma_cols)} column(s)")
    return pd.DataFrame(out, index=df.index)


def read_sensor_table(path: Path, *, sep: str | None = None, time_column: str | None = None, tz: ZoneInfo | None = None,
                      encoding: str | None = None, time_format: str | None = None) -> tuple[pd.DatetimeIndex, pd.DataFrame, pd.DataFrame, list[str]]:
    """Times (file order), channel values and label columns of a wide sensor file, plus what was detected.

    Raises:
        SensorFileError: unreadable file, missing time column, unparseable times or non-numeric columns.
    """
    try:
        text, enc = decode(path.read_bytes(), encoding, str(path))
    except OSError as exc:
        raise SensorFileError(f"{path}: cannot read: {exc}") from exc
    except TableError as exc:
        raise SensorFileError(str(exc)) from exc
    delim = sniff_delimiter(text, sep)
    try:
        df = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SensorFileError(f"{path}: cannot read CSV: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    shown_sep = "TAB" if delim == "\t" else delim
    notes = [f"encoding {enc}", f"separator {shown_sep!r}"]
    tcol = _find_time_column(df, time_column, path, delim)
    if df.empty:
        raise SensorFileError(f"{path}: no readings")
    lines: list[int] = []

    def line_of(row: int) -> int:  # counted only when an error names a line
        if not lines:
            lines.extend(_source_lines(text, delim))
        return lines[row] if row < len(lines) else row + 2

    times = _parse_times(df.pop(tcol), tcol, path, tz or ZoneInfo("UTC"), notes, time_format, line_of)
    labels = df[[c for c in df.columns if c.lower() in LABEL_COLUMNS]]
    values = _numeric(df.drop(columns=labels.columns), path, delim != ",", notes, line_of)
    if values.shape[1] == 0:
        raise SensorFileError(f"{path}: no numeric channels")
    labels = labels.apply(pd.to_numeric, errors="coerce").fillna(0)
    return times, values, labels, notes


def regularise(times: pd.DatetimeIndex, values: pd.DataFrame, labels: pd.DataFrame, notes: list[str] | None = None,
               source: str = "file") -> SensorSeries:
    """Sort, merge duplicates and place readings on a regular grid at the median step (see module doc).

    Raises:
        SensorFileError: fewer than two distinct times, or a grid of more than ``MAX_GRID_POINTS``.
    """
    notes = [] if notes is None else notes
    times = pd.DatetimeIndex(times).as_unit("ns")  # pandas may keep microseconds; the arithmetic below is in ns
    t = times.asi8
    back = np.flatnonzero(np.diff(t) < 0)
    if len(back):
        worst = int(back[np.argmin(np.diff(t)[back])])
        jump = pd.Timedelta(int(t[worst] - t[worst + 1]), "ns")
        notes.append(f"clock went back {len(back)} time(s) (largest {jump} after line {worst + 2}); readings put in time order")
    values = values.set_axis(times).sort_index(kind="stable")
    values.index = pd.DatetimeIndex(values.index).as_unit("ns")
    labels = labels.set_axis(times).sort_index(kind="stable")
    dup = int(values.index.duplicated().sum())
    if dup:
        notes.append(f"{dup} reading(s) with a repeated timestamp averaged")
        values = values.groupby(level=0).mean()
        labels = labels.groupby(level=0).max()
    steps = np.diff(values.index.asi8)
    if len(steps) == 0:
        raise SensorFileError(f"{source}: fewer than two distinct reading times")
    period_ns = int(np.median(steps))
    t0 = values.index.asi8[0]
    k = np.rint((values.index.asi8 - t0) / period_ns).astype(np.int64)
    if k[-1] + 1 > MAX_GRID_POINTS:
        raise SensorFileError(f"{source}: {k[-1] + 1:,} grid points at a {pd.Timedelta(period_ns, 'ns')} step; too long")
    grid = pd.DatetimeIndex(pd.to_datetime(t0 + np.arange(k[-1] + 1) * period_ns, unit="ns", utc=True), name="time")
    merged = int(len(k) - len(np.unique(k)))
    values = values.groupby(k).mean().reindex(range(len(grid))).set_axis(grid)
    labels = labels.groupby(k).max().reindex(range(len(grid))).set_axis(grid)
    missing = values.isna().all(axis=1).to_numpy()
    if missing.any():
        edges = np.diff(np.concatenate([[0], missing.astype(int), [0]]))
        runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        notes.append(f"{len(runs)} gap(s) in the readings, longest {int(runs.max())} step(s), kept as gaps")
    if merged:
        notes.append(f"{merged} reading(s) closer than a step to another averaged onto the grid")
    notes.append(f"sampling step {pd.Timedelta(period_ns, 'ns')}, {len(grid)} grid points")
    return SensorSeries(values.astype(float), labels, pd.Timedelta(period_ns, "ns"), len(times), notes)
