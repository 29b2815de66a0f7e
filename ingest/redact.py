"""Remove personal data (names, e-mail addresses, phone numbers) from incident text before any LLM sees it.

The original text is stored too (``IncidentReport.original_text``); only ``redacted_text`` is sent to a
model. The rules aim for precision: equipment ("Jumbo 08", "Press Line 3"), plants ("Local_01") and
numbers (dates, levels, measurements) must survive, so a name is only taken where a cue says it is one:

* an honorific (``Mr.``, ``Ms.``, ``Dr.``, ``Sra.`` ...) followed by capitalised words;
* a role or naming cue, English, Spanish, Portuguese, French or German (``operator``, ``employee``, ``witness``,
  ``el operador``, ``la supervisora``, ``o trabalhador``, ``le cariste``, ``der Mitarbeiter``, ``named``,
  ``reported by``, ``reportado por``, ``déclaré par``, ``gemeldet von`` ...), anywhere in a line and optionally followed by ``:`` or ``-``, then a capitalised first + last
  name (one word is enough after ``named``/``called``/``llamado``/``chamado``); a role may carry a lowercase
  qualifier ("el técnico de mantenimiento Juan Pérez");
* field lines: ``Name: ...``, ``Reported by: ...``, ``Nombre: ...``, ``Testemunha: ...``, or the line
  after ``Regards,`` / ``Saludos,`` (there a surname may be written in capitals: "Juan PÉREZ").

Cue words match in any case ("Reported By", "WITNESS"); name words never do: they must be capitalised
("Reported by: the maintenance team" stays). Capitalised words that are plant or equipment vocabulary
("Pump", "Line", "Area", "Prensa", "Linha") never count as a name. E-mails and phone numbers are found by
pattern; a phone needs 7-15 digits and must not look like a date or a decimal number; digits in space-separated
groups count only right after a phone cue ("tel", "call", "teléfono", "contato", "Handy", ...), or, written with a
national trunk "0" ("0161 496 0821"), after a phone word anywhere in the 40 characters before ("call ... on 0161 496
0821"), or in the North American 3-3-4 grouping ("514 555 0123").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NAME = "[NAME]"
EMAIL = "[EMAIL]"
PHONE = "[PHONE]"

_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
# A capitalised name word: "John", "O'Neil", "O'Brien", "D'Angelo", "Jean-Luc", "McDonald", "Cristóbal".
_WORD = (
    rf"(?:[{_UPPER}]['’](?=[{_UPPER}]))?"  # an elided prefix: O'Brien, D'Angelo, O’Neil
    rf"[{_UPPER}][{_LOWER}]+(?:['’-][{_UPPER}]?[{_LOWER}]+)*(?:[{_UPPER}][{_LOWER}]+)?"
)
# A word in capitals, accepted in field and sign-off lines only ("Nombre: Juan PÉREZ", "NAME: JOHN SMITH").
_CAPS_WORD = rf"[{_UPPER}]{{2,}}(?:['’-][{_UPPER}]{{2,}})*"
_PARTICLE = r"(?:de|da|do|del|della|di|van|von|der|den|la|le|dos|das|y)"
_SP = r"[ \t]+"  # names never span lines
_NAME_SEQ = rf"{_WORD}(?:{_SP}(?:{_PARTICLE}{_SP}){{0,2}}{_WORD}){{0,3}}"
_NAME_SEQ2 = rf"{_WORD}(?:{_SP}(?:{_PARTICLE}{_SP}){{0,2}}{_WORD}){{1,3}}"  # first + last name at least
_FIELD_WORD = rf"(?:{_WORD}|{_CAPS_WORD})"
_FIELD_NAME_SEQ = rf"{_FIELD_WORD}(?:{_SP}(?:{_PARTICLE}{_SP}){{0,2}}{_FIELD_WORD}){{0,3}}"
# After a cue: an optional ":" / "-" (within the line), or just white space.
_CUE_SEP = r"(?:[ \t]*[:\-–][ \t]*|\s+)"

EMAIL_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_PHONE_CANDIDATE_RE = re.compile(
    r"(?<![\w/.:-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{1,15}(?:[ .-]\d{1,8}){0,5}(?![\w/:]|[.-]\d)"
)
_PHONE_WORDS = (
    r"(?:tel|phone|mobile|cell|call|fax|ext|contact|whatsapp|tel[ée]fono|telefone|m[óo]vil|celular|contacto|contato|"
    r"ramal|extensi[óo]n|t[ée]l[ée]phone|portable|joindre|handy|mobil|telefon|rufnummer|durchwahl|erreichbar|anruf(?:en)?)"
)
_PHONE_CUE_RE = re.compile(_PHONE_WORDS + r"\.?\W{0,3}$", re.IGNORECASE)  # right before the number
_PHONE_WORD_RE = re.compile(r"\b" + _PHONE_WORDS + r"(?:s|ed|ing)?\b", re.IGNORECASE)  # anywhere before it
# A national number written with its trunk prefix: "0161 496 0821", "07700 900123" (ITU-T E.164 national format).
_TRUNK_PREFIXED_RE = re.compile(r"^0[1-9]\d*(?: \d{2,6}){1,3}$")
_DATE_LIKE_RE = re.compile(r"^\d{1,4}[-./]\d{1,2}[-./]\d{1,4}$")
# The North American plan's 10 digits in 3-3-4 groups ("514 555 0123"): not a quantity (thousands come in threes).
_NANP_SPACED_RE = re.compile(r"^\d{3} \d{3} \d{4}$")

_HONORIFIC_RE = re.compile(
    rf"(?:\b(?:Mr|Mrs|Ms|Mx|Miss|Dr|Dra|Prof|Sr|Sra|Srta|Ing|Eng|Herr|Herrn|Frau|Mme|Mlle)\.?|(?<![\w.])M\.)\s+"
    rf"(?:(?:Dr|Prof|Ing)\.?\s+)?(?P<name>{_NAME_SEQ})"
)
_ROLE_WORDS_EN = (
    "operator|employee|worker|technician|supervisor|mechanic|electrician|welder|driver|foreman|"
    "manager|colleague|co-worker|coworker|collaborator|assistant|helper|contractor|engineer|inspector|"
    "witness|victim|apprentice|trainee|operative|attendant|lead|leader|nurse|guard|"
    # trades and other people on a shop floor
    "fitter|pourer|caster|moulder|molder|fettler|rigger|slinger|banksman|labourer|laborer|storeman|storekeeper|"
    "millwright|machinist|setter|painter|plumber|carpenter|scaffolder|maintainer|cleaner|visitor|intern|officer|"
    "steward|handler|picker|packer|porter|crane man|forklift operator|first aider|firefighter|paramedic"
)
# Spanish and Portuguese roles, masculine and feminine, with or without accents.
_ROLE_WORDS_ES_PT = (
    "operador|operadora|oper[áa]ri[oa]|t[ée]cnic[oa]|trabajador|trabajadora|trabalhador|trabalhadora|"
    "mec[áâa]nic[oa]|ayudante|ajudante|electricista|eletricista|soldador|soldadora|encargad[oa]|"
    "encarregad[oa]|(?:el|al|del)[ \\t]+conductor|conductora|condutor|condutora|motorista|chofer|chófer|testigo|testemunha|"
    "colaborador|colaboradora|emplead[oa]|empregad[oa]|funcion[áa]ri[oa]|jefe|jefa|chefe|capataz|"
    "supervisora|ingenier[oa]|engenheir[oa]|inspectora|inspetor|inspetora|auxiliar|asistente|assistente|"
    "aprendiz|practicante|estagi[áa]ri[oa]|compa[ñn]er[oa]|companheir[oa]|colega|v[íi]ctima|v[íi]tima|"
    "accidentad[oa]|acidentad[oa]|lesionad[oa]|herid[oa]|ferid[oa]|vigilante|guardia|enfermer[oa]|"
    "enfermeir[oa]|contratista|gerente|coordinador|coordinadora|coordenador|coordenadora|l[íi]der|"
    "pe[óo]n|servente|montador|montadora|maquinista|responsable|respons[áa]vel"
)
# French and German roles (German nouns also with the feminine -in / -innen).
_ROLE_WORDS_FR_DE = (
    "op[ée]rat(?:eur|rice)|cariste|technicien(?:ne)?|employ[ée]e?|ouvri(?:er|[èe]re)|[ée]lectricien(?:ne)?|"
    "soudeu(?:r|se)|chauffeur|conduct(?:eur|rice)|superviseu(?:r|re|se)|contrema[îi]tre|chef d['’][ée]quipe|"
    "m[ée]canicien(?:ne)?|manutentionnaire|coll[èe]gue|t[ée]moin|victime|stagiaire|int[ée]rimaire|sous-traitant|"
    "pr[ée]parat(?:eur|rice)|magasinier|agent de ma[îi]trise|"
    "mitarbeiter(?:in)?|staplerfahrer(?:in)?|fahrer(?:in)?|bediener(?:in)?|arbeiter(?:in)?|techniker(?:in)?|"
    "elektriker(?:in)?|schlosser(?:in)?|schwei[ßs]er(?:in)?|meister(?:in)?|schichtleiter(?:in)?|"
    "vorarbeiter(?:in)?|kolleg(?:e|in)|monteur(?:in)?|kommissionierer(?:in)?|leiharbeiter(?:in)?|"
    "praktikant(?:in)?|auszubildende[r]?|azubi|zeug(?:e|in)|verletzte[r]?"
)
_ROLE_WORDS = f"{_ROLE_WORDS_EN}|{_ROLE_WORDS_ES_PT}|{_ROLE_WORDS_FR_DE}"
# "el técnico de mantenimiento Juan ...", "o operador da empilhadeira João ...": a lowercase qualifier.
_ROLE_QUALIFIER = rf"(?:{_SP}(?:de|del|do|da|de{_SP}la|de{_SP}los|de{_SP}las|dos|das){_SP}[{_LOWER}]+)?"
_ROLE_RE = re.compile(
    rf"\b(?i:{_ROLE_WORDS})(?:e?s)?(?:\([ao]s?\))?{_ROLE_QUALIFIER}(?:,?{_CUE_SEP})(?P<name>{_NAME_SEQ2})"
)
_NAMING_CUES = (
    "(?:reported|found|seen|assisted|helped|accompanied|attended|noticed|rescued|treated|observed|relieved|"
    "supervised|signed|approved|reviewed|prepared|written|submitted) by|named|called|told|informed|asked|notified|"
    "(?:reportad|relatad|informad|comunicad|notificad|encontrad|vist|auxiliad|socorrid|atendid|acompañad|"
    "acompanhad|firmad|assinad|revisad|aprobad|aprovad|elaborad|redactad|escrit|preparad)[oa] por|"
    "(?:d[ée]clar[ée]|signal[ée]|rapport[ée]|constat[ée]|r[ée]dig[ée]|secouru|vu|sign[ée]|approuv[ée])e?s? par|"
    "(?:gemeldet|erstellt|gefunden|unterschrieben|gepr[üu]ft|freigegeben|aufgenommen) von"
)
_NAMING_RE = re.compile(rf"\b(?i:{_NAMING_CUES}){_CUE_SEP}(?P<name>{_NAME_SEQ2})")
_SINGLE_NAMING_RE = re.compile(rf"\b(?i:named|called|llamad[oa]|chamad[oa]){_CUE_SEP}(?P<name>{_WORD})")
_FIELD_LABELS = (
    "name|full name|author|reporter|reported by|prepared by|written by|submitted by|signed|signed by|"
    "signature|reviewed by|approved by|witness(?:es)?|contact|inspector|supervisor|operator|employee|"
    "injured person|victim|"
    # Spanish / Portuguese
    "nombre|nombre completo|nome|nome completo|autor|reportado por|relatado por|informado por|"
    "elaborado por|preparado por|redactado por|escrito por|firmado por|assinado por|firma|assinatura|"
    "revisado por|aprobado por|aprovado por|testigos?|testemunhas?|contacto|contato|responsable|"
    "respons[áa]vel|operador[a]?|supervisora|trabajador[a]?|trabalhador[a]?|emplead[oa]|empregad[oa]|"
    "colaborador[a]?|funcion[áa]ri[oa]|accidentad[oa]|acidentad[oa]|lesionad[oa]|v[íi]ctima|v[íi]tima|"
    # French / German
    "nom|nom et pr[ée]nom|pr[ée]nom|d[ée]clarant|d[ée]clar[ée] par|signal[ée] par|r[ée]dig[ée] par|t[ée]moins?|"
    "victime|bless[ée]e?|responsable|name|vorname|melder|gemeldet von|erstellt von|zeugen?|zeugin|verletzte[r]?|"
    "ansprechpartner(?:in)?|unterschrift|verantwortlich"
)
_FIELD_RE = re.compile(
    rf"^(?P<label>[ \t>*-]*(?i:{_FIELD_LABELS})\s*[:\-–]\s*)(?P<name>{_FIELD_NAME_SEQ})",
    re.MULTILINE,
)
_SIGNOFF_RE = re.compile(
    r"^[ \t]*(?i:best regards|kind regards|regards|sincerely|thanks|thank you|cheers|signed|saludos|"
    r"un saludo|atentamente|atenciosamente|cordialmente|abrazos|abraços|gracias|obrigad[oa]|cordialement|"
    r"bien [àa] vous|salutations|mit freundlichen gr[üu][ßs]en|viele gr[üu][ßs]e|gr[üu][ßs]e)[,.!]?[ \t]*\n"
    rf"[ \t]*(?P<name>{_FIELD_NAME_SEQ})[ \t]*$",
    re.MULTILINE,
)

# Capitalised words that are plant, equipment, organisation or calendar vocabulary, never a person. Not the
# particles a name may hold ("de", "da", "del", nor "El" as in "El Amrani").
NOT_NAME_WORDS = frozenset(
    ["area", "bay", "belt", "block", "boiler", "building", "cabin", "cell", "chamber", "compressor", "conveyor", "crane", "crusher", "department", "dock", "dryer", "engine", "excavator", "factory", "floor", "forklift", "furnace", "gate", "hall", "hoist", "hopper", "jumbo", "kiln", "ladder", "lathe", "level", "line", "loader", "machine", "maintenance", "mill", "mine", "mixer", "motor", "office", "pit", "plant", "platform", "press", "pump", "reactor", "room", "safety", "scaffold", "sector", "shaft", "shift", "shop", "site", "station", "storage", "substation", "tank", "tower", "truck", "tunnel", "unit", "valve", "vessel", "warehouse", "workshop", "yard", "zone", "local", "country", "plc", "ltd", "inc", "corp", "company", "group", "contractor", "team", "crew", "department", "hospital", "clinic", "emergency", "security", "fire", "quality", "production", "operations", "control", "health", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december", "the", "this", "that", "then", "when", "while", "after", "before", "during", "at", "in", "on", "it", "he", "she", "they", "we", "i", "a", "an", "his", "her", "their", "our", "its", "of", "for", "with", "from", "by", "and", "or", "but", "not", "no", "yes", "north", "south", "east", "west", "upper", "lower", "main", "central", "new", "old", "left", "right", "front", "rear", "ppe", "osha", "ok",
     # equipment and parts that follow a role word in Title Case ("the fitter Hydraulic Hose", "the picker Crown Reach")
     "hose", "hydraulic", "junction", "box", "badge", "reader", "reach", "tool", "change", "spray", "booth", "reel",
     "panel", "training", "centre", "center", "entrance", "cadet", "guard", "switch", "breaker", "drill", "grinder",
     "saw", "robot", "cart", "trolley", "pallet", "rack", "racking", "door", "wall", "roof", "stairs", "ramp",
     # electrical (after "conductor"), services and roles that are called, placeholders of an empty field
     "phase", "earth", "ground", "neutral", "cable", "wire", "copper", "busbar", "ambulance", "police", "doctor",
     "medic", "paramedic", "paramedics", "operator", "supervisor", "manager", "technician", "electrician",
     "mechanic", "engineer", "inspector", "dept", "hse", "ehs", "qa", "qc", "hr", "none", "unknown", "nobody",
     "nil", "na", "n/a", "tbd",
     # Spanish / Portuguese: plant and equipment, organisation, services, articles, placeholders
     "línea", "linea", "linha", "prensa", "bomba", "máquina", "maquina", "planta", "área", "zona", "setor",
     "nave", "galpão", "almacén", "almacen", "armazém", "bodega", "taller", "oficina", "caldera", "caldeira",
     "horno", "forno", "cinta", "esteira", "grúa", "grua", "guindaste", "montacargas", "empilhadeira",
     "carretilla", "camión", "camion", "caminhão", "túnel", "tunel", "nivel", "nível", "pozo", "poço", "tanque",
     "tolva", "molino", "moinho", "compresor", "silo", "muelle", "patio", "pátio", "turno", "equipo", "equipe",
     "mantenimiento", "manutenção", "manutencao", "seguridad", "segurança", "seguranca", "producción",
     "produção", "producao", "calidad", "qualidade", "empresa", "compañía", "companhia", "departamento",
     "brigada", "bomberos", "bombeiros", "roja", "vermelha", "ambulancia", "ambulância", "policía", "polícia",
     "médico", "sesmt", "cipa", "jefe", "jefa", "chefe", "gerente", "encargado", "encargada", "encarregado",
     "encarregada", "operador", "operadora", "supervisora", "técnico", "tecnico", "los", "las", "os", "as", "un",
     "una", "um", "uma", "en", "em", "con", "com", "por", "para", "sin", "sem", "ninguno", "ninguna", "nadie",
     "nenhum", "nenhuma", "ninguém", "desconocido", "desconhecido",
     # French / German: plant and equipment, organisation, services, articles
     "ligne", "usine", "atelier", "entrepôt", "entrepot", "quai", "four", "chariot", "pompiers", "urgence",
     "halle", "lager", "linie", "maschine", "presse", "werk", "schicht", "abteilung", "instandhaltung",
     "produktion", "gang", "tor", "rampe", "stapler", "kran", "krankenhaus", "notarzt", "polizei", "feuerwehr",
     "betriebsarzt", "die", "dem", "ein", "eine", "les", "au", "wareneingang", "warenausgang", "versand",
     "gabelstapler", "erste", "hilfe", "nord", "süd", "ost",
     # placeholders of an empty field, and body parts that follow "injured:" labels ("Verletzte: Hand, Finger")
     "keine", "keiner", "kein", "aucun", "aucune", "personne", "oui", "non", "ja", "nein", "third", "party",
     "hand", "hands", "finger", "fingers", "thumb", "foot", "feet", "head", "eye", "eyes", "arm", "leg", "knee",
     "back", "shoulder", "wrist", "ankle", "fuß", "fuss", "kopf", "auge", "bein", "knie", "rücken", "schulter",
     "handgelenk", "linke", "linker", "linken", "rechte", "rechter", "rechten", "main", "doigt", "doigts", "pied",
     "tête", "bras", "jambe", "genou", "œil", "yeux", "dos", "épaule", "poignet", "cheville", "gauche", "droite"]
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
    if seps == {" "} and _NANP_SPACED_RE.match(s):
        return True
    if seps == {" "}:  # space-separated groups are numbers in prose unless a phone cue comes right before them,
        # or, for a number written with a trunk "0", anywhere in the 40 characters before it ("call ... on 0161 ...")
        before = text[max(0, match.start() - 40) : match.start()]
        trunk = bool(_TRUNK_PREFIXED_RE.match(s) and 9 <= len(digits) <= 12 and _PHONE_WORD_RE.search(before))
        return trunk or bool(_PHONE_CUE_RE.search(text[max(0, match.start() - 16) : match.start()]))
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
            name = m.group("name")
            if _is_name(name) and not (name.isupper() and len(name.split()) == 1):  # "HSE", not "JOHN SMITH"
                spans.append((m.start("name"), m.end("name"), NAME))
                words.update(w for w in name.split() if len(w) >= 3)
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
