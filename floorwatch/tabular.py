"""One reader for tabular input files as sites export them (report CSV/JSON Lines, sensor CSV).

* **Encoding.** UTF-8 (with or without a byte-order mark) when the bytes decode as UTF-8, else the
  best guess of charset-normalizer (Windows-1252 from a spreadsheet, Latin-1, ...); ``encoding``
  overrides. The BOM is removed.
* **Delimiter.** The candidate among ``, ; TAB |`` that splits the first lines into the most
  consistent number of fields (more than one) is used; ``sep`` overrides.
* **Decimal comma.** A column whose values are all numbers written with a comma as the decimal
  mark (``12,5``), in a file not separated by commas, is read as numbers.
* **Times.** ``floorwatch.timeformat`` infers day-first or month-first from a whole column.

Every decision is recorded in ``Table.notes`` so a ``--dry-run`` can show it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DELIMITERS = (",", ";", "\t", "|")
_PREFERRED_LEGACY = ("cp1252", "latin_1", "iso8859_15")
_SNIFF_LINES = 200
_DECIMAL_COMMA = re.compile(r"^[-+]?\d+,\d+(?:[eE][-+]?\d+)?$")
_DECIMAL_POINT = re.compile(r"^[-+]?\d*\.\d+(?:[eE][-+]?\d+)?$")


class TableError(ValueError):
    """The file cannot be read as a table (undecodable, no header, unknown encoding name)."""


@dataclass
class Table:
    """A file read into named columns of strings (CSV) or JSON values (JSON Lines).

    ``records`` holds ``(line or row number, record)``; a record with the key ``__error__`` is a line
    that could not be read (JSON Lines), with the reason as its value.
    """

    path: Path
    columns: list[str]
    records: list[tuple[int, dict[str, Any]]]
    encoding: str
    sep: str | None = None
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> list[Any]:
        """All values of one column, in file order (missing keys as ``None``)."""
        return [rec.get(name) for _, rec in self.records if "__error__" not in rec]


def decode(data: bytes, encoding: str | None = None, source: str = "file") -> tuple[str, str]:
    """Text and encoding name of ``data``: ``encoding`` if given, UTF-8 if valid, else charset-normalizer's guess.

    Raises:
        TableError: unknown ``encoding`` name, bytes that do not decode with it, or no plausible encoding.
    """
    if encoding:
        try:
            return data.decode(encoding).removeprefix("\ufeff"), encoding
        except LookupError as exc:
            raise TableError(f"{source}: unknown encoding {encoding!r}") from exc
        except UnicodeDecodeError as exc:
            raise TableError(f"{source}: does not decode as {encoding}: {exc.reason} at byte {exc.start}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return (text[1:], "utf-8-sig") if text.startswith("\ufeff") else (text, "utf-8")
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise TableError(f"{source}: not text in any known encoding (give --encoding)")
    # Short files often decode equally well in several single-byte code pages (cp1250 and cp1252 differ
    # in a few letters only, and charset-normalizer may rank a rare one such as hp_roman8 first on a short
    # German text: "Knöchel" read as "Kn\u2014chel"). Among the decodings with the least chaos, one that windows-1252
    # (the WHATWG Encoding Standard's usual fallback for legacy text) gives too wins; otherwise the most coherent.
    least = min(m.chaos for m in matches)
    clean = [m for m in matches if m.chaos == least]
    for m in clean:
        legacy = next((e for e in _PREFERRED_LEGACY if e in m.could_be_from_charset), None)
        if legacy is not None:
            text, enc = data.decode(legacy), legacy
            break
    else:
        best = max(clean, key=lambda m: m.coherence)
        text, enc = str(best), best.encoding
    # charset-normalizer may also rank a rare code page first when windows-1252 is not among the least chaotic
    # ("N° Reporte" from a Spanish Excel read as ISO-8859-14 "NḞ Reporte"); windows-1252 wins wherever it differs
    # from that guess only by common Western European letters and marks, in plausible places.
    if enc != "cp1252" and _plausible_cp1252(data, text):
        text, enc = data.decode("cp1252"), "cp1252"
    return text.removeprefix("\ufeff"), enc


# Characters windows-1252 gives for bytes 0x80-0xFF that Western European exports commonly hold: the letters of
# Spanish, Portuguese, French, Italian, German, Dutch, Catalan and the Nordic languages (not Icelandic's ð þ ý,
# which Turkish text in windows-1254 reads as), and usual marks (degree, ordinals, quotes, dashes, euro, m² m³).
_CP1252_LETTERS = frozenset("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜàáâãäåæçèéêëìíîïñòóôõöøùúûüÿßŒœ")
_CP1252_MARKS = frozenset("°ºª¡¿«»€£§©®™±×·•–—‘’“”„…²³½¼¾µ´\xa0")
_MIDWORD_MARKS = frozenset("’´·")  # an apostrophe (l’usine) or the Catalan middle dot (col·lecció)
_MAX_ACCENTED_SHARE = 0.3  # of all letters: Western European text is mostly ASCII letters (Cyrillic in cp1252 is not)


def _plausible_cp1252(data: bytes, guess: str) -> bool:
    """True when ``data`` decodes as windows-1252 and that text differs from ``guess`` (another code page's
    decoding of the same bytes) only in common Western European letters and marks: no mark inside a word
    ("Pracovn¡k" is Czech cp852), no capital after a small letter ("znaŸen"), and few accented letters."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    if len(text) != len(guess):  # a multi-byte guess (Shift-JIS, UTF-16, ...)
        return False
    letters = accented = 0
    for i, ch in enumerate(text):
        if ch.isalpha():
            letters += 1
            accented += ord(ch) > 127
        if ch == guess[i]:
            continue
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        if ch in _CP1252_LETTERS:
            if ch.isupper() and before.islower():
                return False
        elif ch in _CP1252_MARKS:
            if ch not in _MIDWORD_MARKS and before.isalpha() and after.isalpha():
                return False
        else:
            return False
    return accented <= _MAX_ACCENTED_SHARE * letters


SHORT_ROW = "__short__"  # key of a CSV record with fewer fields than the header: why (see _csv_record)


def sniff_delimiter(text: str, sep: str | None = None) -> str:
    """The field delimiter of CSV ``text``: ``sep`` if given, else the most consistent candidate.

    A candidate scores the share of the first lines that have the header's field count, when that
    count is above one; quoted fields are honoured (``csv`` module). Ties go to the earlier of
    ``, ; TAB |``; a single-column file gets ``,``.
    """
    if sep:
        return "\t" if sep in ("\\t", "tab", "TAB") else sep
    lines = text.splitlines()[:_SNIFF_LINES]
    sample = "\n".join(lines)
    best, best_score = ",", 0.0
    for cand in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), delimiter=cand) if r]
        except csv.Error:
            continue
        if len(rows) > 2:
            rows = rows[:-1]  # the last record may be cut by the sample
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = sum(len(r) == width for r in rows) / len(rows) + min(width, 50) * 1e-3
        if score > best_score:
            best, best_score = cand, score
    return best


def numeric_column(values: list[Any], decimal_comma: bool) -> list[float | None] | None:
    """``values`` as floats (``None`` for empty), or ``None`` when any value is not a number."""
    out: list[float | None] = []
    for v in values:
        if v is None or (isinstance(v, str) and not v.strip()):
            out.append(None)
            continue
        if isinstance(v, int | float) and not isinstance(v, bool):
            out.append(float(v))
            continue
        s = str(v).strip()
        if decimal_comma:
            s = s.replace(".", "").replace(",", ".")
        try:
            out.append(float(s))
        except ValueError:
            return None
    return out


def uses_decimal_comma(table: Table) -> bool:
    """True when the file is not comma-separated and some column has numbers like ``12,5`` and none like ``12.5``."""
    if table.sep == ",":
        return False
    comma = point = 0
    for name in table.columns:
        for v in table.column(name)[:_SNIFF_LINES * 5]:
            s = str(v).strip() if v is not None else ""
            comma += bool(_DECIMAL_COMMA.match(s))
            point += bool(_DECIMAL_POINT.match(s))
    return comma > 0 and point == 0


def _csv_record(columns: list[str], row: list[str], delim: str) -> dict[str, Any]:
    """One CSV row as ``{column: value}``; a row with more fields than the header is an ``__error__`` record
    (its extra fields would be lost: usually a separator inside an unquoted text). One with fewer has its last
    columns empty (tools leave out trailing empty fields) and says so under ``__short__``, so a reader that needs
    one of those columns can name the real problem (a value, or a separator, missing) instead of "empty"."""
    shown = {"\t": "TAB"}.get(delim, delim)
    if len(row) > len(columns):
        return {"__error__": f"{len(row)} fields but the header has {len(columns)} (an unquoted {shown!r} in a value? quote it)"}
    record: dict[str, Any] = dict(zip(columns, [*row, *[""] * (len(columns) - len(row))], strict=True))
    if len(row) < len(columns):
        record[SHORT_ROW] = f"{len(row)} fields but the header has {len(columns)} (a value or a {shown!r} missing?)"
    return record


def read_csv_table(path: Path, *, encoding: str | None = None, sep: str | None = None) -> Table:
    """A CSV file as a ``Table`` of strings, encoding and delimiter detected unless given.

    Raises:
        TableError: unreadable file, undecodable bytes or no header row.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TableError(f"{path}: cannot read: {exc}") from exc
    text, enc = decode(data, encoding, str(path))
    delim = sniff_delimiter(text, sep)
    unclosed = _unclosed_quote(text, delim)
    if unclosed is not None:  # the non-strict reader would swallow the rest of the file into one field
        raise TableError(f"{path}: not valid CSV: the quoted field of row {unclosed[0]} (line {unclosed[1]}) is not closed "
                         "before the end of the file; nothing was read")
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise TableError(f"{path}: empty CSV (no header row)")
        columns = [h.strip() for h in header]
        records = [
            (i, _csv_record(columns, row, delim))
            for i, row in enumerate(reader, start=1)
            if any(v.strip() for v in row)
        ]
    except csv.Error as exc:
        raise TableError(f"{path}: not valid CSV: {exc}") from exc
    shown = {"\t": "TAB"}.get(delim, delim)
    notes = [f"encoding {enc}{' (given)' if encoding else ''}", f"separator {shown!r}{' (given)' if sep else ''}"]
    return Table(path, columns, records, enc, delim, notes)


def _unclosed_quote(text: str, delim: str) -> tuple[int, int] | None:
    """(row, line) where a quoted field starts that is still open at the end of the file, else None.

    Only that case is looked for (``csv``'s strict mode, which refuses it, also refuses text after a closing
    quote - ``"a 12" pipe"`` - that the ordinary reader keeps); a trial's unclosed quote made the following
    rows part of one report's text, and it was stored.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True)
    row, line = -1, 1  # the header is row 0
    try:
        for _ in reader:
            row, line = row + 1, reader.line_num + 1
    except csv.Error as exc:
        return (row + 1, line) if "end of data" in str(exc) else None
    return None


def read_jsonl_table(path: Path, *, encoding: str | None = None) -> Table:
    """A JSON Lines file as a ``Table``; a bad line becomes a record with ``__error__``.

    Raises:
        TableError: unreadable file or undecodable bytes.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TableError(f"{path}: cannot read: {exc}") from exc
    text, enc = decode(data, encoding, str(path))
    records: list[tuple[int, dict[str, Any]]] = []
    columns: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            records.append((n, {"__error__": f"invalid JSON: {exc.msg}"}))
            continue
        if not isinstance(obj, dict):
            records.append((n, {"__error__": f"expected a JSON object, got {type(obj).__name__}"}))
            continue
        columns += [k for k in obj if k not in columns]
        records.append((n, obj))
    return Table(path, columns, records, enc, None, [f"encoding {enc}{' (given)' if encoding else ''}"])
