"""Remove personal data (names, e-mail addresses, phone numbers) from incident text before any LLM sees it.

The original text is stored too (``IncidentReport.original_text``); only ``redacted_text`` is sent to a
model. The rules aim for precision: equipment ("Jumbo 08", "Press Line 3"), plants ("Local_01") and
numbers (dates, levels, measurements) must survive, so a name is only taken where a cue says it is one:

* an honorific (``Mr.``, ``Ms.``, ``Dr.``, ``Sra.`` ...) followed by capitalised words;
* a role or naming cue (``operator``, ``employee``, ``named``, ``reported by`` ...) followed by a
  capitalised first + last name (one word is enough after ``named``/``called``/``by``);
* signature lines: ``Name: ...``, ``Reported by: ...``, or the line after ``Regards,``;
* afterwards, every other occurrence of a word of a name already found ("... Smith then ...").

Capitalised words that are plant or equipment vocabulary ("Pump", "Line", "Area") never count as a
name. E-mails and phone numbers are found by pattern; a phone needs 7-15 digits and must not look like
a date or a decimal number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NAME = "[NAME]"
EMAIL = "[EMAIL]"
PHONE = "[PHONE]"

_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
# A capitalised name word: "John", "O'Neil", "Jean-Luc", "McDonald", "Cristóbal".
_WORD = rf"[{_UPPER}][{_LOWER}]+(?:['’-][{_UPPER}]?[{_LOWER}]+)*(?:[{_UPPER}][{_LOWER}]+)?"
_PARTICLE = r"(?:de|da|del|della|di|van|von|der|den|la|le|dos|das|y)"
_SP = r"[ \t]+"  # names never span lines
_NAME_SEQ = rf"{_WORD}(?:{_SP}(?:{_PARTICLE}{_SP}){{0,2}}{_WORD}){{0,3}}"

EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_PHONE_CANDIDATE_RE = re.compile(
    r"(?<![\w/.:-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,15}(?:[ .-]\d{1,5}){0,5}(?![\w/:]|[.-]\d)"
)
_PHONE_CUE_RE = re.compile(r"(?:tel|phone|mobile|cell|call|fax|ext|contact|whatsapp)\W{0,3}$", re.IGNORECASE)
_DATE_LIKE_RE = re.compile(r"^\d{1,4}[-./]\d{1,2}[-./]\d{1,4}$")

_HONORIFIC_RE = re.compile(
    rf"\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|Prof|Sr|Sra|Srta|Ing|Eng|Herr|Frau)\.?\s+(?P<name>{_NAME_SEQ})"
)
_ROLE_WORDS = (
    "operator|employee|worker|technician|supervisor|mechanic|electrician|welder|driver|foreman|"
    "manager|colleague|co-worker|coworker|collaborator|assistant|helper|contractor|engineer|inspector|"
    "witness|victim|apprentice|trainee|operative|attendant|lead|leader|nurse|guard"
)
_ROLE_RE = re.compile(rf"\b(?i:{_ROLE_WORDS})s?,?\s+(?P<name>{_WORD}(?:{_SP}(?:{_PARTICLE}{_SP}){{0,2}}{_WORD}){{1,3}})")
_NAMING_RE = re.compile(
    rf"\b(?:(?:reported|found|seen|assisted|helped|accompanied|attended|noticed|rescued|treated|observed|relieved|"
    rf"supervised|signed|approved|reviewed|prepared|written) by|named|called|told|informed|asked|notified)\s+(?P<name>{_WORD}(?:{_SP}(?:{_PARTICLE}{_SP}){{0,2}}{_WORD}){{1,3}})"
)
_SINGLE_NAMING_RE = re.compile(rf"\b(?:named|called)\s+(?P<name>{_WORD})")
_FIELD_RE = re.compile(
    rf"^(?P<label>[ \t>*-]*(?:name|author|reporter|reported by|prepared by|written by|submitted by|signed|"
    rf"signed by|signature|reviewed by|approved by|witness(?:es)?|contact|inspector|supervisor|operator|"
    rf"employee|injured person|victim)\s*[:\-–]\s*)(?P<name>{_NAME_SEQ})",
    re.IGNORECASE | re.MULTILINE,
)
_SIGNOFF_RE = re.compile(
    rf"^[ \t]*(?:best regards|kind regards|regards|sincerely|thanks|thank you|cheers|signed)[,.!]?[ \t]*\n"
    rf"[ \t]*(?P<name>{_NAME_SEQ})[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)

# Capitalised words that are plant, equipment, organisation or calendar vocabulary, never a person.
NOT_NAME_WORDS = frozenset(
    ["area", "bay", "belt", "block", "boiler", "building", "cabin", "cell", "chamber", "compressor", "conveyor", "crane", "crusher", "department", "dock", "dryer", "engine", "excavator", "factory", "floor", "forklift", "furnace", "gate", "hall", "hoist", "hopper", "jumbo", "kiln", "ladder", "lathe", "level", "line", "loader", "machine", "maintenance", "mill", "mine", "mixer", "motor", "office", "pit", "plant", "platform", "press", "pump", "reactor", "room", "safety", "scaffold", "sector", "shaft", "shift", "shop", "site", "station", "storage", "substation", "tank", "tower", "truck", "tunnel", "unit", "valve", "vessel", "warehouse", "workshop", "yard", "zone", "local", "country", "plc", "ltd", "inc", "corp", "company", "group", "contractor", "team", "crew", "department", "hospital", "clinic", "emergency", "security", "fire", "quality", "production", "operations", "control", "health", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december", "the", "this", "that", "then", "when", "while", "after", "before", "during", "at", "in", "on", "it", "he", "she", "they", "we", "i", "a", "an", "his", "her", "their", "our", "its", "of", "for", "with", "from", "by", "and", "or", "but", "not", "no", "yes", "north", "south", "east", "west", "upper", "lower", "main", "central", "new", "old", "left", "right", "front", "rear", "ppe", "osha", "ok"]
)


@dataclass
class Redaction:
    """The redacted text and what was replaced (counts per kind, and the name words found)."""

    text: str
    counts: dict[str, int] = field(default_factory=lambda: {"name": 0, "email": 0, "phone": 0})
    names: set[str] = field(default_factory=set)


def _is_name(candidate: str) -> bool:
    words = [w for w in re.split(r"\s+", candidate) if w]
    return bool(words) and not any(w.lower().strip(".,") in NOT_NAME_WORDS for w in words)


def _looks_like_phone(match: re.Match[str], text: str) -> bool:
    s = match.group(0).strip()
    digits = re.sub(r"\D", "", s)
    if not 7 <= len(digits) <= 15 or _DATE_LIKE_RE.match(s):
        return False
    seps = set(re.findall(r"[ .-]", s.lstrip("+")))
    if s.startswith("+") or "(" in s:
        return True
    if not seps:  # one long run of digits: a serial number unless a phone cue precedes it
        return bool(_PHONE_CUE_RE.search(text[max(0, match.start() - 12) : match.start()]))
    if seps == {"."} and s.count(".") < 2:  # a decimal number
        return False
    if seps == {" "}:  # space-separated groups are numbers in prose unless cued
        return bool(_PHONE_CUE_RE.search(text[max(0, match.start() - 12) : match.start()]))
    groups = re.split(r"[ .-]", s)
    return len(groups) >= 2 and max(len(g) for g in groups) >= 3


def _replace_spans(text: str, spans: list[tuple[int, int, str]]) -> str:
    out, pos = [], 0
    for start, end, token in sorted(spans):
        if start < pos:  # overlapping: the earlier span already covers it
            continue
        out.append(text[pos:start])
        out.append(token)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _name_spans(text: str) -> tuple[list[tuple[int, int, str]], set[str]]:
    spans: list[tuple[int, int, str]] = []
    words: set[str] = set()
    for regex, whole in ((_HONORIFIC_RE, True), (_ROLE_RE, False), (_NAMING_RE, False), (_SINGLE_NAMING_RE, False)):
        for m in regex.finditer(text):
            name = m.group("name")
            if not _is_name(name):
                continue
            spans.append((m.start() if whole else m.start("name"), m.end("name"), NAME))
            words.update(w for w in name.split() if len(w) >= 3 and w[0].isupper())
    for regex in (_FIELD_RE, _SIGNOFF_RE):
        for m in regex.finditer(text):
            if _is_name(m.group("name")):
                spans.append((m.start("name"), m.end("name"), NAME))
                words.update(w for w in m.group("name").split() if len(w) >= 3)
    return spans, words


def redact(text: str) -> Redaction:
    """Replace names with ``[NAME]``, e-mail addresses with ``[EMAIL]`` and phone numbers with ``[PHONE]``.

    Args:
        text: free text of an incident report.

    Returns:
        The redacted text with counts of each replacement and the name words found.
    """
    result = Redaction(text=text)
    spans: list[tuple[int, int, str]] = []
    for m in EMAIL_RE.finditer(text):
        spans.append((m.start(), m.end(), EMAIL))
        result.counts["email"] += 1
    masked = EMAIL_RE.sub(lambda m: "#" * len(m.group(0)), text)
    for m in _PHONE_CANDIDATE_RE.finditer(masked):
        if _looks_like_phone(m, masked):
            spans.append((m.start(), m.end(), PHONE))
            result.counts["phone"] += 1
    name_spans, words = _name_spans(masked)
    result.names = words
    if words:  # other mentions of a name already found ("... Smith then ...")
        alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        for m in re.finditer(rf"(?<![\w\[])(?:{alternation})(?![\w\]])", masked):
            name_spans.append((m.start(), m.end(), NAME))
    merged = _merge_adjacent_names(masked, name_spans)
    result.counts["name"] = len(merged)
    result.text = _replace_spans(text, spans + merged)
    return result


def _merge_adjacent_names(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Join overlapping name spans and those separated only by spaces, so "John Smith" is one ``[NAME]``."""
    merged: list[list[int]] = []
    for start, end, _ in sorted(spans):
        if merged and (start <= merged[-1][1] or not text[merged[-1][1] : start].strip()):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e, NAME) for s, e in merged]


def redact_text(text: str) -> str:
    """Shorthand for ``redact(text).text``."""
    return redact(text).text
