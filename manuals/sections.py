"""Safety manuals as LLM context: read Markdown / text / PDF, split into sections, store and embed.

Sections keep the heading they sit under (``document#heading`` is what a recommendation cites).
Markdown splits on ``#`` headings; text and PDF on heading-like lines (``1.2 Title``, short ALL
CAPS lines), else on fixed-size chunks with overlap. Long sections are split again with their
heading carried. Each stored section's id is a hash of (document, heading, text), so ingesting
the same file twice changes nothing.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.manuals.embed import Embedder
from floorwatch.schemas.manuals import ManualIngestSummary, ParsedSection
from floorwatch.schemas.tables import ManualSection

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text", ".pdf": "pdf"}
DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_SECTION_CHARS = 1500
DEFAULT_OVERLAP_CHARS = 200

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*\.?)\s+([A-Z][^\n]{1,79})$")
_FENCE = re.compile(r"^\s*(```|~~~)")


class ManualError(ValueError):
    """A manual file cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


# --------------------------------------------------------------------------- reading
def read_manual(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, str]:
    """Read a manual file and return ``(kind, text)``.

    Raises:
        ManualError: unknown suffix, missing/unreadable file, empty file, over ``max_bytes``,
            not UTF-8, or a PDF that is encrypted, broken or holds no extractable text.
    """
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ManualError(
            path, f"unsupported file type {path.suffix or '(none)'!r} (use {', '.join(sorted(SUFFIXES))})"
        )
    if not path.is_file():
        raise ManualError(path, "file not found" if not path.exists() else "not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise ManualError(path, "file is empty")
    if size > max_bytes:
        raise ManualError(
            path, f"file is {size:,} bytes, over the limit of {max_bytes:,} (raise --max-bytes)"
        )
    if kind == "pdf":
        text = _read_pdf(path)
    else:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ManualError(path, f"not UTF-8 text (byte {exc.start})") from exc
        except OSError as exc:
            raise ManualError(path, f"cannot read: {exc.strerror or exc}") from exc
    if not text.strip():
        raise ManualError(path, "no text in file (only whitespace)")
    return kind, text


def _read_pdf(path: Path) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # noqa: BLE001 - pypdf raises assorted errors for unsupported crypto
                raise ManualError(path, f"PDF is encrypted and cannot be opened: {exc}") from exc
            if not opened:
                raise ManualError(path, "PDF is encrypted with a password")
        pages = [page.extract_text() or "" for page in reader.pages]
    except ManualError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ManualError(path, f"unreadable PDF: {type(exc).__name__}: {exc}") from exc
    text = "\n\n".join(pages)
    if not text.strip():
        raise ManualError(
            path, f"PDF has {len(pages)} page(s) but no extractable text (scanned images need OCR first)"
        )
    return text


# --------------------------------------------------------------------------- splitting
def split_markdown(text: str, default_heading: str) -> list[tuple[str, str]]:
    """``(heading, body)`` per Markdown section; text before the first heading goes under ``default_heading``.

    The heading is the section's own heading only (not its parents), so citations stay short:
    ``lockout-tagout.md#4. Shutdown and isolation steps``. Lines inside code fences are never headings.
    """
    out: list[tuple[str, str]] = []
    heading, in_fence = default_heading, False
    body: list[str] = []
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _MD_HEADING.match(line)
        if m:
            out.append((heading, "\n".join(body)))
            heading, body = m.group(2).strip(), []
        else:
            body.append(line)
    out.append((heading, "\n".join(body)))
    return [(h, b.strip()) for h, b in out if b.strip()]


def is_heading_line(line: str) -> bool:
    """True for a heading-like line of plain text: ``2.1 Title`` or a short ALL-CAPS line."""
    s = line.strip()
    if not s or len(s) > 80 or s.endswith((".", ",", ";", ":", "!", "?")):
        return False  # a sentence or a numbered list step, not a title
    if _NUMBERED.match(s) and len(s.split()) <= 12:
        return True
    letters = [c for c in s if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters) and len(s.split()) <= 10


def split_plain(text: str, default_heading: str, chunk_chars: int, overlap: int) -> list[tuple[str, str]]:
    """``(heading, body)`` per detected heading; with no heading lines, fixed-size chunks with overlap."""
    lines = text.splitlines()
    if not any(is_heading_line(line) for line in lines):
        chunks = _chunks(_normalise(text), chunk_chars, overlap)
        return [
            (f"{default_heading} (part {i + 1})" if len(chunks) > 1 else default_heading, c)
            for i, c in enumerate(chunks)
        ]
    out: list[tuple[str, str]] = []
    heading = default_heading
    body: list[str] = []
    for line in lines:
        if is_heading_line(line):
            out.append((heading, "\n".join(body)))
            heading, body = " ".join(line.split()), []
        else:
            body.append(line)
    out.append((heading, "\n".join(body)))
    return [(h, b.strip()) for h, b in out if b.strip()]


def _normalise(text: str) -> str:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


def _chunks(text: str, size: int, overlap: int) -> list[str]:
    """Pieces of at most ``size`` characters, cut at a paragraph, sentence or word end, overlapping by ``overlap``."""
    text = text.strip()
    out: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            window = text[start:end]
            for sep in ("\n\n", ". ", "\n", " "):
                cut = window.rfind(sep)
                if cut > size // 2:
                    end = start + cut + len(sep)
                    break
        piece = text[start:end].strip()
        if piece:
            out.append(piece)
        if end >= len(text):
            break
        next_start = max(end - overlap, start + 1)
        space = text.find(" ", next_start, end)  # start the overlap on a word boundary
        start = space + 1 if 0 <= space < end else next_start
    return out


def split_sections(
    kind: str,
    text: str,
    document: str,
    max_chars: int = DEFAULT_SECTION_CHARS,
    overlap: int = DEFAULT_OVERLAP_CHARS,
) -> list[ParsedSection]:
    """Split a manual's text into sections; a section longer than ``max_chars`` becomes parts with the same heading."""
    default = Path(document).stem
    raw = (
        split_markdown(text, default)
        if kind == "markdown"
        else split_plain(text, default, max_chars, overlap)
    )
    out: list[ParsedSection] = []
    for heading, body in raw:
        pieces = [body] if len(body) <= max_chars else _chunks(body, max_chars, overlap)
        for piece in pieces:
            out.append(ParsedSection(heading=heading[:500], text=piece, position=len(out)))
    return out


def section_id(document: str, heading: str, text: str) -> str:
    """Stable content id: sha256 over (document, heading, text), first 32 hex digits."""
    return hashlib.sha256("\x1f".join((document, heading, text)).encode("utf-8")).hexdigest()[:32]


def embedding_text(section: ManualSection | ParsedSection) -> str:
    """What is embedded and keyword-indexed for a section: its heading, then its text."""
    return f"{section.heading}\n{section.text}"


# --------------------------------------------------------------------------- storing
def ingest_manual(
    session: Session,
    path: Path,
    *,
    embedder: Embedder | None = None,
    embedding_error: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_section_chars: int = DEFAULT_SECTION_CHARS,
) -> ManualIngestSummary:
    """Read, split, store and embed one manual (idempotent; sections gone from the file are removed).

    Args:
        session: open session; the caller commits (nothing is written when reading or splitting fails).
        path: ``.md``, ``.txt`` or ``.pdf`` file; its file name is the stored ``document``.
        embedder: MiniLM embedder, or None to store sections without vectors (keyword search only).
        embedding_error: why ``embedder`` is None, reported in the summary.
        max_bytes: larger files are refused.
        max_section_chars: longer sections are split into parts carrying the same heading.

    Raises:
        ManualError: the file cannot be used (named in the message).
    """
    kind, text = read_manual(path, max_bytes)
    document = path.name
    parsed = split_sections(kind, text, document, max_section_chars)
    if not parsed:
        raise ManualError(path, "no sections found")
    stored = {
        s.id: s for s in session.scalars(select(ManualSection).where(ManualSection.document == document))
    }
    wanted: dict[str, ParsedSection] = {}
    for sec in parsed:
        wanted.setdefault(section_id(document, sec.heading, sec.text), sec)
    removed = [s for sid, s in stored.items() if sid not in wanted]
    for s in removed:
        session.delete(s)
    new = 0
    for sid, sec in wanted.items():
        row = stored.get(sid)
        if row is None:
            session.add(
                ManualSection(
                    id=sid, document=document, heading=sec.heading, text=sec.text, position=sec.position
                )
            )
            new += 1
        elif row.position != sec.position:
            row.position = sec.position
    session.flush()
    embedded = embed_missing(session, embedder, document) if embedder is not None else 0
    return ManualIngestSummary(
        document=document,
        sections=len(wanted),
        new=new,
        unchanged=len(wanted) - new,
        removed=len(removed),
        embedded=embedded,
        embedding_error=None if embedder is not None else embedding_error,
    )


def embed_missing(session: Session, embedder: Embedder, document: str | None = None) -> int:
    """Compute and store embeddings for sections that have none (all documents, or one); returns how many."""
    query = select(ManualSection)
    if document is not None:
        query = query.where(ManualSection.document == document)
    # Filtered in Python: SQL NULL and the JSON literal null both load as None, and PostgreSQL's
    # json type has no equality operator to test the latter in SQL.
    rows = [
        r
        for r in session.scalars(query.order_by(ManualSection.document, ManualSection.position))
        if not r.embedding
    ]
    if not rows:
        return 0
    vectors = embedder.encode([embedding_text(r) for r in rows])
    for row, vec in zip(rows, vectors, strict=True):
        row.embedding = [round(float(x), 6) for x in vec]
    session.flush()
    return len(rows)
