"""Incident reports from files into ``incident_reports``: Markdown/text, JSON Lines and CSV.

* ``.md`` / ``.txt``: one report per file, optional YAML front matter (``occurred_at``, ``zone``,
  ``title``, ``id``; other keys go to ``attributes``).
* ``.jsonl``: one JSON object per line; keys named by the column mapping (default ``id``, ``text``,
  ``occurred_at``, ``zone``).
* ``.csv``: one row per report; the mapping names the id, text, time and zone columns, every other
  column is kept in ``attributes``.

Each report is keyed by ``(source, source_id)``: the file name and the id column, or a content hash
when there is no id. Ingesting a file again changes nothing; a report whose content changed under the
same id is updated. Bad rows are reported by number and skipped (or, ``strict``, refuse the file).
Everything for one file is written in one transaction. Text is redacted (``ingest.redact``) and both
versions are stored. CSV and JSON Lines files are read by ``floorwatch.tabular`` (encoding and
delimiter detected); the time column's layout (ISO, day-first, month-first) is inferred from the whole
column by ``floorwatch.timeformat`` unless a format is given. A file of which no report can be stored
is refused as a whole.

A zone field may hold a configured zone's id or its name, in any case and with or without accents ("Cold Store &
Ammonia Plant" -> ``cold_store``, "Nave de Gruas" for "Nave de Grúas", via ``ColumnMapping.zone_names``); any other
label is slugified into an id ("Boiler Room" -> ``boiler_room``, "Acería" -> ``aceria``).
Reports without a time or a zone, and zone ids the configuration does not list, are stored all the same:
the summary counts them (``no_time``, ``no_zone``, ``zone_reports`` / ``unknown_zones``) so the caller can
warn that the risk job cannot place them, or that a zone id may be a typo.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.config import IngestConfig, ZoneConfig
from floorwatch.ingest.redact import redact
from floorwatch.schemas.tables import IncidentReport
from floorwatch.storage.registry import ensure_zones
from floorwatch.storage.upsert import upsert
from floorwatch.tabular import SHORT_ROW, TableError, decode, read_csv_table, read_jsonl_table
from floorwatch.timeformat import (
    TimeFormatError,
    infer_time_format,
    midnight_is_a_date,
    parse_time,
    shown_layout,
    written_clock,
)

__all__ = ["ColumnMapping", "IngestError", "IngestSummary", "ParsedReport", "configured_zone_id", "ingest_file",
           "parse_file", "parse_time", "read_table", "slugify_zone"]

SUFFIXES = (".md", ".markdown", ".txt", ".jsonl", ".csv")
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


class IngestError(Exception):
    """A file cannot be ingested at all (unreadable, missing column, ``strict`` with bad rows)."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which column (CSV) or key (JSON Lines) holds each field; ``None`` = the default name, if present."""

    id_column: str | None = None
    text_column: str | None = None
    time_column: str | None = None
    time_format: str | None = None
    zone_column: str | None = None
    title_column: str | None = None
    encoding: str | None = None
    sep: str | None = None
    zone_names: Mapping[str, str] = field(default_factory=dict)
    """Configured zone names, slugified (:func:`slugify_zone`), to their ids (:func:`zone_names_of`): a report whose
    zone field holds a zone's display name ("Cold Store & Ammonia Plant") is stored under its id ("cold_store")."""

    @classmethod
    def from_settings(
        cls, cfg: IngestConfig, zones: Sequence[ZoneConfig] = (), **overrides: str | None
    ) -> ColumnMapping:
        """Settings' ``ingest`` section, overridden by the non-``None`` keyword arguments; ``zones``: the
        configuration's zones, whose names a report may give instead of an id."""
        base = cfg.model_dump()
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base, zone_names=zone_names_of(zones))


def zone_names_of(zones: Sequence[ZoneConfig]) -> dict[str, str]:
    """Slugified zone name -> zone id, for the zones whose name does not slugify to their own id; a name shared by
    two zones (or equal to another zone's id) is left out, since it cannot say which zone is meant. The slug
    ignores case and accents: "nave de gruas" names the zone "Nave de Grúas"."""
    ids = {z.id for z in zones}
    by_name: dict[str, set[str]] = {}
    for z in zones:
        if z.name:
            with contextlib.suppress(ValueError):  # a name without letters or digits names nothing
                by_name.setdefault(slugify_zone(z.name), set()).add(z.id)
    return {slug: next(iter(zs)) for slug, zs in by_name.items() if len(zs) == 1 and slug not in ids}


def configured_zone_id(label: str, zones: Sequence[ZoneConfig]) -> str | None:
    """The id of the configured zone that ``label`` names: its id, or its name or id in any case, with or without
    accents ("Horno de Arco Electrico" -> ``horno_arco`` for the zone named "Horno de Arco Eléctrico"); None when
    no configured zone (or more than one, by name) is meant."""
    ids = {z.id for z in zones}
    if label in ids:
        return label
    try:
        slug = slugify_zone(label)
    except ValueError:
        return None
    return slug if slug in ids else zone_names_of(zones).get(slug)


@dataclass
class ParsedReport:
    """One report read from a file, before it is stored."""

    row: int
    source_id: str
    text: str
    occurred_at: datetime | None = None
    zone_id: str | None = None
    title: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    time_of_day_known: bool = True
    """False when ``occurred_at`` is a date without a time of day (stored at 00:00 site time): such a report counts
    by date and weekday, never by hour or shift."""


@dataclass
class IngestSummary:
    """What happened to one file."""

    source: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[str] = field(default_factory=list)
    zones: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    no_time: int = 0
    """Reports of the file without ``occurred_at``: no period of the risk job includes them."""
    no_zone: int = 0
    """Reports of the file without a zone: no zone's assessment includes them."""
    date_only: int = 0
    """Reports of the file with a date but no time of day: left out of hour and shift patterns."""
    zone_reports: dict[str, int] = field(default_factory=dict)
    """Reports of the file per zone id."""

    @property
    def total(self) -> int:
        """Reports of the file that are stored (new, updated or unchanged)."""
        return self.new + self.updated + self.unchanged

    def unknown_zones(self, configured: Collection[str]) -> dict[str, int]:
        """Zone ids of the file's reports that ``configured`` (the configuration's zone ids) lacks, with
        their report counts; empty when ``configured`` is empty (a configuration that lists no zones)."""
        if not configured:
            return {}
        known = set(configured)
        return {z: n for z, n in sorted(self.zone_reports.items()) if z not in known}

    def line(self) -> str:
        return (
            f"{self.source}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.rejected)} rejected"
            + (
                f" (updated = a report stored earlier under source {self.source!r} and the same id was replaced; "
                "a different file of the same name needs --source-name to keep both)"
                if self.updated else ""
            )
        )


# Latin letters that Unicode does not decompose into a base letter and an accent
_UNDECOMPOSED = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
                               "ı": "i"})


def fold_accents(value: str) -> str:
    """``value`` in lower case without accents ("Nave de Grúas" -> "nave de gruas", "Straße" -> "strasse")."""
    decomposed = unicodedata.normalize("NFKD", value.lower().translate(_UNDECOMPOSED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def slugify_zone(value: str) -> str:
    """A zone label as a zone id matching ``^[a-z0-9][a-z0-9_-]{0,63}$``.

    Accents are dropped and separators become ``_`` so a label matches the id a config would give the same
    zone ("Local_01" -> "local_01", "Boiler Room" -> "boiler_room", "Acería" -> "aceria").
    """
    slug = re.sub(r"[^a-z0-9-]+", "_", fold_accents(value.strip())).strip("-_")
    if not slug:
        raise ValueError(f"zone {value!r} has no letters or digits to make an id from")
    return slug[:64].rstrip("-_") or slug[:64]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


def _title_from_text(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else ""
    first = first.lstrip("# ").strip()
    return first if len(first) <= 120 else first[:117].rstrip() + "..."


# --------------------------------------------------------------------------- readers
def read_markdown(path: Path, tz: ZoneInfo, encoding: str | None = None, notes: list[str] | None = None) -> ParsedReport:
    """One report from a ``.md``/``.txt`` file with optional YAML front matter.

    ``encoding``: the file's text encoding (``--encoding``); None = UTF-8 if valid, else detected. The encoding
    used is appended to ``notes`` when given.
    """
    raw, used = decode(path.read_bytes(), encoding, str(path))
    if notes is not None:
        notes.append(f"encoding {used}")
    meta: dict[str, Any] = {}
    m = _FRONT_MATTER_RE.match(raw)
    if m:
        try:
            loaded = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            raise IngestError(f"{path}: invalid YAML front matter: {exc}") from exc
        if not isinstance(loaded, dict):
            raise IngestError(f"{path}: front matter must be a mapping, got {type(loaded).__name__}")
        meta = loaded
        raw = raw[m.end() :]
    text = raw.strip()
    title = str(meta.pop("title", "") or "") or _title_from_text(text)
    when, zone, sid = meta.pop("occurred_at", None), meta.pop("zone", None), meta.pop("id", None)
    report = ParsedReport(row=1, source_id=str(sid) if sid else content_hash(text), text=text, title=title)
    report.attributes = {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in meta.items()}
    try:
        report.occurred_at = parse_time(when, None, tz)
    except ValueError as exc:
        raise IngestError(f"{path}: front matter occurred_at: {exc}") from exc
    report.time_of_day_known = report.occurred_at is None or _clocked(written_clock(when), report.occurred_at, tz)
    if not report.time_of_day_known and notes is not None:
        notes.append("occurred_at has a date but no time of day: the report counts by date and weekday, "
                      "not in hour or shift patterns")
    try:
        report.zone_id = slugify_zone(str(zone)) if zone not in (None, "") else None
    except ValueError as exc:  # a zone with no letters or digits
        raise IngestError(f"{path}: front matter zone: {exc}") from exc
    return report


def _pick(columns: list[str], wanted: str | None, default: str, what: str, source: str, read_as: str = "") -> str | None:
    """The column to use for a field: the configured one (must exist) or the default name if present.
    ``read_as``: how the file was decoded (:func:`_read_as`), told when the column is missing."""
    if wanted is not None:
        if wanted not in columns:
            shown = ", ".join(repr(c) for c in columns)
            raise IngestError(f"{source}: no {what} column {wanted!r}; the file has columns: {shown}{read_as}")
        return wanted
    return default if default in columns else None


def _read_as(encoding: str, given: bool) -> str:
    """The encoding part of a missing-column message: a column name with accents ("N° Reporte") is not found
    when a legacy file was decoded with the wrong code page, which only the encoding's name shows."""
    if given:
        return f" (read as {encoding}, given)"
    if encoding.startswith("utf"):
        return f" (read as {encoding})"
    return (f" (read as {encoding}, detected; if the names look garbled, give the file's encoding: "
            "--encoding cp1252 for a Windows/Excel export)")


def _rows(path: Path, mapping: ColumnMapping, notes: list[str]) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]], str]:
    """Column names, ``(row number, record)`` and encoding of a CSV or JSON Lines file (``floorwatch.tabular``)."""
    try:
        if path.suffix.lower() == ".csv":
            table = read_csv_table(path, encoding=mapping.encoding, sep=mapping.sep)
        else:
            table = read_jsonl_table(path, encoding=mapping.encoding)
    except TableError as exc:
        raise IngestError(str(exc)) from exc
    notes += table.notes
    return table.columns, iter(table.records), table.encoding


def read_table(path: Path, mapping: ColumnMapping, tz: ZoneInfo,
               notes: list[str] | None = None) -> tuple[list[ParsedReport], list[str]]:
    """Reports from a CSV or JSON Lines file, plus one problem line per bad row.

    Args:
        notes: if given, what was detected (encoding, separator, time layout) is appended to it.

    Raises:
        IngestError: a configured column does not exist, no text column can be found, or the time
            column's layout cannot be inferred (ambiguous dates; the message shows examples).
    """
    notes = [] if notes is None else notes
    columns, row_iter, encoding = _rows(path, mapping, notes)
    rows = list(row_iter)
    src = str(path)
    read_as = _read_as(encoding, mapping.encoding is not None)
    text_col = _pick(columns, mapping.text_column, "text", "text", src, read_as)
    if text_col is None:
        shown = ", ".join(repr(c) for c in columns)
        raise IngestError(f"{src}: no text column (set --text-column); the file has columns: {shown}{read_as}")
    id_col = _pick(columns, mapping.id_column, "id", "id", src, read_as)
    time_col = _pick(columns, mapping.time_column, "occurred_at", "time", src, read_as)
    zone_col = _pick(columns, mapping.zone_column, "zone", "zone", src, read_as)
    title_col = _pick(columns, mapping.title_column, "title", "title", src, read_as)
    used = {c for c in (id_col, text_col, time_col) if c is not None}
    time_format = mapping.time_format
    if time_col is not None and time_format is None:
        try:
            time_format = infer_time_format((r.get(time_col) for _, r in rows if "__error__" not in r), time_col)
        except TimeFormatError as exc:
            raise IngestError(f"{src}: {exc}") from exc
        shown = shown_layout(time_format, (r.get(time_col) for _, r in rows if "__error__" not in r))
        notes.append(f"time column {time_col!r}: {shown} (inferred)")
    elif time_col is not None:
        notes.append(f"time column {time_col!r}: {time_format} (given)")
    unit = "row" if path.suffix.lower() == ".csv" else "line"
    reports: list[ParsedReport] = []
    clocks: list[time | None] = []  # per report, the time of day its value writes (None: none written)
    problems: list[str] = []
    for n, rec in rows:
        if "__error__" in rec:
            problems.append(f"{unit} {n}: {rec['__error__']}")
            continue
        text = str(rec.get(text_col) or "").strip()
        if not text:
            problems.append(f"{unit} {n}: {rec.get(SHORT_ROW) or f'empty text in column {text_col!r}'}")
            continue
        try:
            when = parse_time(rec.get(time_col), time_format, tz) if time_col is not None else None
            zone_raw = str(rec.get(zone_col) or "").strip() if zone_col is not None else ""
            zone = slugify_zone(zone_raw) if zone_raw else None
        except ValueError as exc:
            problems.append(f"{unit} {n}: {rec.get(SHORT_ROW) or exc}")
            continue
        sid = str(rec.get(id_col) or "").strip() if id_col is not None else ""
        title = str(rec.get(title_col) or "").strip() if title_col is not None else ""
        attrs = {k: v for k, v in rec.items() if k not in used and k is not None and k != SHORT_ROW}
        clock = written_clock(rec.get(time_col)) if when is not None else None
        known = when is None or _clocked(clock, when, tz)
        reports.append(ParsedReport(n, sid or content_hash(text), text, when, zone, title or _title_from_text(text), attrs,
                                    known))
        clocks.append(clock)
    if time_col is not None:
        _mark_date_only(reports, clocks, time_col, notes)
    return reports, problems


def _clocked(clock: time | None, when: datetime, tz: ZoneInfo) -> bool:
    """Whether a parsed time carries a time of day: its value writes a clock (``clock``, :func:`written_clock`), or it
    is read at any time but 00:00 site time (a layout without a colon, "05.03.2024 14.30" for ``%d.%m.%Y %H.%M``, or
    ISO "2024-03-05T14")."""
    return clock is not None or when.astimezone(tz).time() != time(0, 0)


def _mark_date_only(reports: list[ParsedReport], clocks: list[time | None], column: str, notes: list[str]) -> None:
    """Mark the reports whose time is a date alone: written without a time of day, or at 00:00 as written in a column
    where midnight is the export's filler (:func:`floorwatch.timeformat.midnight_is_a_date`, on the clock as written,
    so a "...T00:00:00Z" column is a date column at any site and on a day the clocks change); says how many in
    ``notes``. ``clocks``: per report, the time of day its value writes (None where it writes none)."""
    if midnight_is_a_date(c for c in clocks if c is not None):
        for r, c in zip(reports, clocks, strict=True):
            if c == time(0, 0):
                r.time_of_day_known = False
        filler = " (00:00 is the column's most common time: read as no time of day)"
    else:
        filler = ""
    dated = [r for r in reports if r.occurred_at is not None]
    date_only = sum(not r.time_of_day_known for r in dated)
    if date_only:
        notes.append(f"time column {column!r}: {date_only} of {len(dated)} reports have a date but no time of day"
                     f"{filler}; they count by date and weekday, not in hour or shift patterns")


# --------------------------------------------------------------------------- writing
def redacted_title(title: str, text: str) -> str:
    """``title`` with the personal data of ``title`` + ``text`` removed (``ingest.redact``).

    A title is shown wherever the report is listed (risk report, dashboard), so it is redacted like the text;
    it is read together with the text because the cue that makes a word a name ("the electrician ...") may
    be in either.
    """
    one_line = " ".join(title.split())
    return redact(f"{one_line}\n{text}").text.partition("\n")[0]


_PERSON_COLUMN = re.compile(
    r"\b(?:names?|nombres?|nomes?|nom|pr[ée]nom|vorname|person(?:ne)?|persona|pessoa|involved|witness(?:es)?|"
    r"reporter|reported|author|signed|testigos?|testemunhas?|t[ée]moins?|zeugen?)\b",
    re.IGNORECASE,
)


_PLACE_COLUMN = re.compile(
    r"\b(?:area|zone|site|plant|location|department|equipment|machine|line|process|product|company|sector|local|"
    r"project|file|document)\b",
    re.IGNORECASE,
)


def redacted_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` with the personal data of their text values removed (``ingest.redact``): an export's other
    columns ("Reported By", "Contact", "Witness") hold names, phones and e-mails too. Each value is read after its
    column name as a field label ("Reported By: Jean Tremblay"), so a name column's bare name is found as well."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, str) and value.strip():
            # a column about a person ("Witness Name", "Person Involved", "Employee Name") is read as a name field
            person = _PERSON_COLUMN.search(str(key)) and not _PLACE_COLUMN.search(str(key))
            label = "Name" if person else " ".join(str(key).split())
            out[key] = redact(f"{label}: {value}").text.removeprefix(f"{label}: ")
        else:
            out[key] = value
    return out


def _row_dict(source: str, rep: ParsedReport) -> dict[str, Any]:
    """The stored row of one report. Its ``content_hash`` covers what is stored, the redacted text, title and
    attributes included: a re-ingest after the redaction rules changed updates the rows whose redaction changed
    (they would otherwise keep a name or phone number the new rules remove) and leaves the others unchanged."""
    title = redacted_title(rep.title, rep.text)[:500]
    redacted_text = redact(rep.text).text
    attributes = json.loads(json.dumps(redacted_attributes(rep.attributes), default=str))
    stored = [rep.text, rep.occurred_at.isoformat() if rep.occurred_at else None, rep.zone_id, rep.title,
              rep.attributes, title, redacted_text, attributes]
    if rep.occurred_at is not None and not rep.time_of_day_known:  # only then: older rows keep their hash
        stored.append("date only")
    fingerprint = json.dumps(stored, sort_keys=True, default=str)
    return {
        "source": source,
        "source_id": rep.source_id[:200],
        "content_hash": hashlib.sha256(fingerprint.encode("utf-8")).hexdigest(),
        "occurred_at": rep.occurred_at,
        "time_of_day_known": rep.time_of_day_known,
        "zone_id": rep.zone_id,
        "title": title,
        "original_text": rep.text,
        "redacted_text": redacted_text,
        "attributes": attributes,
    }


def parse_file(path: Path, mapping: ColumnMapping, tz: ZoneInfo, max_chars: int,
               notes: list[str] | None = None) -> tuple[list[ParsedReport], list[str]]:
    """Read any supported file; oversized and duplicate reports become problems.

    ``notes`` (if given) receives what was detected about the file (encoding, separator, time layout).

    Raises:
        IngestError: unsupported or unreadable file, or a file-level problem.
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise IngestError(f"{path}: unsupported file type {suffix or '(none)'!r}; expected one of {', '.join(SUFFIXES)}")
    try:
        if suffix in (".md", ".markdown", ".txt"):
            reports, problems = [read_markdown(path, tz, mapping.encoding, notes)], []
            if not reports[0].text:
                return [], [f"{path.name}: empty report text"]
        else:
            reports, problems = read_table(path, mapping, tz, notes)
    except (OSError, UnicodeDecodeError, csv.Error, TableError) as exc:
        raise IngestError(f"{path}: cannot read: {exc}") from exc
    kept: list[ParsedReport] = []
    seen: dict[str, int] = {}
    unit = "row" if suffix == ".csv" else "line" if suffix == ".jsonl" else "report"
    for rep in reports:
        if rep.zone_id in mapping.zone_names:  # the zone's display name, given instead of its id
            rep.zone_id = mapping.zone_names[rep.zone_id]
        if len(rep.text) > max_chars:
            problems.append(f"{unit} {rep.row}: text is {len(rep.text):,} characters, over llm.max_report_chars={max_chars:,}")
        elif rep.source_id in seen:
            problems.append(f"{unit} {rep.row}: duplicate id {rep.source_id!r} (first at {unit} {seen[rep.source_id]})")
        else:
            seen[rep.source_id] = rep.row
            kept.append(rep)
    return kept, problems


def count_placement(reports: list[ParsedReport], summary: IngestSummary) -> None:
    """Fill ``summary``'s zones, reports per zone and reports without a time or a zone (what the risk job needs to
    place a report), for a real ingest and a dry run alike."""
    summary.zones = {r.zone_id for r in reports if r.zone_id}
    summary.zone_reports = dict(Counter(r.zone_id for r in reports if r.zone_id))
    summary.no_zone = sum(not r.zone_id for r in reports)
    summary.no_time = sum(r.occurred_at is None for r in reports)
    summary.date_only = sum(r.occurred_at is not None and not r.time_of_day_known for r in reports)


def store_reports(session: Session, source: str, reports: list[ParsedReport], summary: IngestSummary) -> None:
    """Upsert reports of one source; counts new / updated / unchanged, and the reports without a time or a
    zone and per zone, into ``summary``. The caller commits."""
    existing = dict(
        session.execute(
            select(IncidentReport.source_id, IncidentReport.content_hash).where(IncidentReport.source == source)
        ).all()
    )
    rows = [_row_dict(source, r) for r in reports]
    changed = [r for r in rows if r["source_id"] not in existing or existing[r["source_id"]] != r["content_hash"]]
    summary.new = sum(r["source_id"] not in existing for r in rows)
    summary.updated = len(changed) - summary.new
    summary.unchanged = len(rows) - len(changed)
    count_placement(reports, summary)
    ensure_zones(session, summary.zones)
    update = ["content_hash", "occurred_at", "time_of_day_known", "zone_id", "title", "original_text", "redacted_text", "attributes"]
    for i in range(0, len(changed), 500):
        upsert(session, IncidentReport, changed[i : i + 500], key=["source", "source_id"], update=update)


def ingest_file(
    session: Session,
    path: Path,
    mapping: ColumnMapping,
    *,
    tz: ZoneInfo,
    max_chars: int,
    source_name: str | None = None,
    strict: bool = False,
) -> IngestSummary:
    """Parse and store one file in the caller's transaction.

    Args:
        session: open session; the caller commits (one transaction per file).
        path: the report file.
        mapping: column mapping for CSV / JSON Lines.
        tz: time zone of naive times.
        max_chars: longer reports are refused.
        source_name: value of ``source`` (default: the file name).
        strict: any bad row refuses the whole file.

    Raises:
        IngestError: the file cannot be read, a column is missing, no report in it can be stored, or
            ``strict`` and a row is bad.
    """
    source = source_name or path.name
    notes: list[str] = []
    reports, problems = parse_file(path, mapping, tz, max_chars, notes)
    if strict and problems:
        raise IngestError(f"{path}: refused (--strict), nothing written: " + "; ".join(problems))
    if not reports:
        shown = "; ".join(problems[:5]) + (f"; ... {len(problems) - 5} more" if len(problems) > 5 else "")
        raise IngestError(f"{path}: no report can be stored, nothing written ({len(problems)} rejected: {shown or 'empty file'})")
    summary = IngestSummary(source=source, rejected=problems, notes=notes)
    store_reports(session, source, reports, summary)
    return summary
