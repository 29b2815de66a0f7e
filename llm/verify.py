"""Deterministic check of a model's claim against the facts it cites (pure; no model, no database).

A claim passes only when all of these hold:

1. it cites at least one fact, and every cited id is a fact of the zone's sheet;
2. every number in the claim (digits; the words two to twenty, thirty, forty, fifty, hundred, dozen, twice,
   double, triple), apart from the zone's id (also with spaces for its underscores) and the period's
   dates written as such, equals a number in a cited fact, exactly or as that number rounded to an integer
   or one decimal;
   A date, a time of day or an evidence id the claim writes ("March 20", "7:30 AM", "alert a3", "incident 7")
   must be one of the cited facts' (or the period's) - and the digits of a fact's dates, times and ids are not
   among its numbers, so "11 near misses" or "a 3-metre gap" cannot pass on a date's "11" or an id's "3"
   (``llm.verify_dates``);
3. a number counting something (``16 alerts``, ``2 incidents``, ``7.4 incidents per week``) is
   written with the same kind in a cited fact (so an alert count or an item rate cannot be passed off
   as an incident count);
4. every safety concept of :data:`LEXICON` the claim mentions (an event, an outcome, a hazard) is
   also mentioned, in any of the concept's words, by a cited fact; a fact that mentions it only as
   none (``0 camera outages``, ``no injury``) supports only a claim that also says none, so "medium
   risk due to the camera outages" citing "0 camera outages" is dropped;
5. a reason the claim gives ("due to", "because", "caused by", ...) is in the cited facts' words: each content word
   of the clause starts like a word of theirs (``_reason_problem``; "medium risk due to the camera's proximity",
   citing an alert, fails);
6. a risk level the claim states ("high risk", "the risk ... is high") is the zone's computed level (its score
   fact: "level medium"), cited or not; "moderate" reads as medium.

The lexicon is a general safety vocabulary (outcomes such as injury, first aid, hospital, death;
events such as fall, person down, collision, fire, explosion, spill, burn, electric shock; hazard
and equipment words such as forklift, crane, molten metal, gas, confined space, chemical, pressure; the injured
body region - hand or arm, foot or leg, head or face, trunk; causes a small model tends to add - training,
fatigue or distraction, an equipment defect, intent or blame; a time of day or weekday), written from the hazard
classes of ``schemas.llm`` and common occupational-safety terms (OSHA/HSE incident categories, the body-part
groups of injury records), not from any data set. The zone's own id, also written with spaces ("Chemical Store"
for ``chemical_store``), names no concept. Negations are not interpreted: "no injury" names the concept injury, so a cited fact must
mention it too (a fact such as "no injury reported" does). The checker errs towards dropping.
"""

from __future__ import annotations

import re

from floorwatch.llm.verify_dates import calendar_problem, read_calendar, spell_ids_as
from floorwatch.schemas.facts import CLAIM_CHARS, Claim, FactSheet

# English words first; the common Spanish, Portuguese, French and German words of the same concept after them, so a
# claim about a report written in those languages ("grúa horquilla" is a forklift) is checked against its text too.
LEXICON: dict[str, str] = {
    "fall": r"\bfall(?:s|en|ing)?\b|\bfell\b|\bca[ií]da\w*|\bcay[oó]\b|\bqueda\b|\bcaiu\b|\bchute\b|\bsturz\w*|\bgestürzt\b",
    "person down": r"\blying\b|\bperson[- ]down\b|\bman[- ]down\b|\bcollaps\w*|\bunconscious\w*|\bon the (?:floor|ground)\b|\binconscient\w*|\bdesmay\w*|\bdesmai\w*|\bbewusstlos\w*",
    "fire": r"\bfires?\b|\bflames?\b|\bblaze\b|\bignit\w*|\bsmoke\b|\bflammable\b|\bincendi\w*|\bfuego\b|\bllamas?\b|\bincêndio\b|\bfogo\b|\bfeu\b",
    "explosion": r"\bexplo\w*|\bblast\b",
    "injury": r"\binjur\w*|\bhurt\b|\bwound\w*|\blesi[oó]n\w*|\blesionad\w*|\bherid[oa]s?\b|\blesão\b|\bferid[oa]s?\b|\bbless[ée]\w*|\bverletz\w*",
    "first aid": r"\bfirst[- ]aid\b|\bprimeros auxilios\b|\bprimeiros socorros\b|\bpremiers secours\b|\berste hilfe\b",
    "medical treatment": r"\bhospital\w*|\bambulance\b|\bmedical\b|\bclinic\b|\bparamedic\w*|\bcl[ií]nica\b|\bm[eé]dic[oa]s?\b|\bambulancia\b|\bkrankenhaus\b|\barzt\b",
    "death": r"\bdeaths?\b|\bdied\b|\bdead\b|\bfatal\w*|\bkill\w*|\bmuri[oó]\b|\bfalleci\w*|\bmuerte\b|\bmorreu\b|\bfaleceu\b|\bmorte\b|\bd[ée]c[ée]d\w*|\btödlich\w*|\bverstorben\b|\bstarb\b",
    "overheating": r"\boverheat\w*|\bhot[- ]?spots?\b",
    "forklift": r"\bfork[- ]?lifts?\b|\blift[- ]trucks?\b|\bmontacargas\b|\bgr[uú]as? horquillas?\b|\bcarretillas? elevadoras?\b|\bautoelevador\w*|\bempilhadeira\w*|\bchariots? [ée]l[ée]vateurs?\b|\bgabelstapler\w*|\bstapler\w*",
    "vehicle": r"\bvehicles?\b|\btrucks?\b|\bloaders?\b|\bmobile equipment\b|\bcami[oó]n\w*|\bcaminh[aã]o\b|\bveh[ií]culos?\b|\bve[ií]culos?\b|\bv[ée]hicules?\b|\blkw\b|\bfahrzeug\w*",
    "collision": r"\bcollisions?\b|\bcollid\w*|\bcrash\w*|\brun[- ]over\b|\brollover\b",
    "struck by": r"\bstruck\b|\bhit by\b",
    "burn": r"\bburn(?:s|t|ed|ing)?\b|\bscald\w*|\bquemadur\w*|\bquem[oó]\b|\bqueimadur\w*|\bbr[ûu]lure\w*|\bverbrenn\w*|\bverbrüh\w*",
    "electricity": r"\belectr\w*|\barc flash\b|\blive parts?\b|\bel[eé]ctric\w*|\bel[eé]tric\w*|\b[ée]lectri\w*|\belektr\w*",
    "chemical": r"\bchemicals?\b|\bacids?\b|\bsolvents?\b|\bfumes?\b|\bcaustic\b|\btoxic\b",
    "spill or leak": r"\bspill\w*|\bspilt\b|\bleak\w*",
    "emergency stop": r"\bemergency[- ]stop\w*|\be-stop\w*",
    "evacuation": r"\bevacuat\w*",
    "fracture": r"\bfractur\w*|\bbroken bones?\b|\bfratur\w*|\bbruch\w*|\bgebrochen\b",
    "amputation": r"\bamputat\w*",
    "caught in": r"\bcrush\w*|\btrapped\b|\bentangl\w*|\bpinch\w*|\bcaught\b|\batrap\w*|\baplast\w*|\besmag\w*|\beingeklemmt\b|\bgequetscht\b",
    "cut": r"\bcuts?\b|\blacerat\w*|\bpunctur\w*|\bcortes?\b|\bcort[oó]\b|\bcortou\b|\bcoupures?\b|\bschnitt\w*",
    "slip or trip": r"\bslip(?:s|ped|ping|pery)?\b|\btrip(?:s|ped|ping)?\b|\bresbal\w*|\btropez\w*|\bescorreg\w*|\btrope[cç]\w*|\bausgerutscht\b|\bstolper\w*",
    "strain": r"\bstrain\w*|\bsprain\w*",
    "noise": r"\bnois\w*",
    "vibration": r"\bvibrat\w*",
    "pressure": r"\bpressur\w*|\bburst\w*",
    "near miss": r"\bnear[- ]miss\w*|\bcasi accidente\b|\bcuasi ?accidente\b|\bquase acidente\b|\bpresque accident\b|\bbeinahe\w*",
    "animal or insect": r"\banimals?\b|\binsects?\b|\bstings?\b|\bstung\b|\bbit(?:e|es|ten)\b|\bbees?\b|\bwasps?\b|\bsnakes?\b|\bspiders?\b",
    "anomaly": r"\banomal\w*|\bmalfunction\w*|\bfault\w*",
    "missing ppe": r"\bppe\b|\bhelmets?\b|\bhard[- ]hats?\b|\bhi[- ]?vis\w*|\bvests?\b",
    "intrusion": r"\bintru\w*|\bunauthori[sz]ed\b|\brestricted\b",
    "crowding": r"\bcrowd\w*",
    "height": r"\bheights?\b|\bladders?\b|\bscaffold\w*|\bplatforms?\b",
    "manual handling": r"\bmanual handling\b|\blifting\b",
    "lifting equipment": r"\bcranes?\b|\bhoists?\b|\bslings?\b|\brigging\b|\bsuspended loads?\b|\boverhead loads?\b|\bchain blocks?\b|\bgr[uú]as?\b|\bguindastes?\b|\bponte rolante\b|\bpont roulant\b|\bkran\w*|\beslingas?\b",
    "molten metal": r"\bmolten\b|\bladles?\b|\bslag\b|\bsmelt\w*|\bliquid metal\b|\bmetal fundido\b|\bacero (?:fundido|l[ií]quido)\b|\bescoria\b|\bmetal l[ií]quido\b|\bschmelze\b",
    "gas": r"\bgas(?:es)?\b|\bcarbon monoxide\b|\bh2s\b|\bhydrogen sulphide\b|\bhydrogen sulfide\b|\bammonia\b|\bchlorine\b|"
    r"\basphyxi\w*|\bsuffocat\w*|\boxygen[- ]deficien\w*|\bmon[oó]xido\b|\bamon[ií]aco\b|\bamônia\b|\bg[aá]s\b",
    "confined space": r"\bconfined[- ]spaces?\b|\b(?:tank|vessel|silo|sewer|pit) entry\b",
    "machine guarding": r"\bguard(?:s|ed|ing)?\b|\bunguarded\b|\binterlock\w*|\blight[- ]curtains?\b",
    "lockout": r"\block[- ]?out\w*|\btag[- ]?out\w*|\bloto\b",
    "heat stress": r"\bheat[- ](?:stress|stroke|exhaustion|illness)\b|\bheatstroke\b|\bdehydrat\w*",
    "dust": r"\bdust\w*|\bsilica\b|\bparticulates?\b",
    "radiation": r"\bradiation\b|\bradioactiv\w*|\bx-rays?\b|\blasers?\b",
    "drowning": r"\bdrown\w*",
    # the injured body part: a claim naming one needs a cited fact (a report's text) naming one of the same region
    # ("face" is left out: "the zone faces a high risk" is how models write)
    "hand or arm": r"\bhands?\b|\bfingers?\b|\bthumbs?\b|\bwrists?\b|\barms?\b|\bforearms?\b|\belbows?\b|\bshoulders?\b|\bpalms?\b",
    "foot or leg": r"\bfoot\b|\bfeet\b|\btoes?\b|\bankles?\b|\blegs?\b|\bknees?\b|\bshins?\b|\bhips?\b|\bthighs?\b",
    "head or face": r"\bheads?\b|\bfacial\b|\beyes?\b|\bears?\b|\bnoses?\b|\bnecks?\b|\bskulls?\b|\bscalps?\b|\bteeth\b|\btooth\b",
    "trunk": r"\bchests?\b|\btorsos?\b|\babdom\w*|\bspines?\b|\bribs?\b|\bpelvis\b|\b(?:lower|upper) back\b|\bback (?:injury|pain|strain)\b",
    # causes a small model invents: a report a manager signs must not add them (a trial: "defective safety harness")
    "training": r"\btrain(?:ing|ed)\b|\buntrained\b|\binexperienc\w*|\bincompeten\w*",
    "fatigue or distraction": r"\bfatigu\w*|\btired\w*|\bdrows\w*|\basleep\b|\bdistract\w*|\binattent\w*",
    "equipment defect": r"\bdefect\w*|\bfaulty\b|\bdamaged\b|\bworn[- ]out\b|\bbroken (?:guard|tool|part|equipment|harness|rung|ladder)s?\b",
    # protective equipment by the body it protects (the PPE groups of OSHA 29 CFR 1910 Subpart I): "was not wearing
    # gloves" is a cause a claim may state only where a cited report says so
    "hand protection": r"\bgloves?\b|\bgauntlets?\b|\bguantes\b|\bluvas\b|\bgants\b|\bhandschuh\w*",
    "eye or face protection": r"\bgoggles\b|\bsafety glasses\b|\bspectacles\b|\bface[- ]?shields?\b|\bvisors?\b|\bgafas\b|\bóculos\b|\blunettes\b|\bschutzbrille\w*",
    "fall protection": r"\bharness\w*|\blanyards?\b|\bfall[- ]arrest\w*|\barn[eé]s\b|\bcintur[oó]n de seguridad\b|\bauffanggurt\w*",
    "respiratory protection": r"\brespirators?\b|\bbreathing apparatus\b|\b(?:dust|face) masks?\b|\bmascarillas?\b|\batemschutz\w*",
    "hearing protection": r"\bear ?plugs?\b|\bear ?muffs?\b|\bhearing protection\b|\bgehörschutz\b",
    # conditions and causes a small model adds to an account (the usual causal-factor groups of incident
    # investigation: people, equipment, environment, management): each needs a cited fact that states it
    "speed": r"\bspeed\w*|\btoo fast\b|\bvelocidad\b|\bgeschwindigkeit\b",
    "visibility": r"\b(?:poor|low|limited|reduced|restricted|bad) visibility\b|\blighting\b|\bpoorly lit\b|\bdark(?:ness)?\b|\bblind[- ]spots?\b|\bglare\b|\biluminaci[oó]n\b|\bbeleuchtung\b",
    "housekeeping": r"\bhousekeeping\b|\bclutter\w*|\bobstruct\w*|\buntidy\b|\bdebris\b|\bmessy\b",
    "procedure violation": r"\bviolat\w*|\bnon-?complian\w*|\bdid not follow\b|\bnot follow(?:ing|ed)? (?:the |a |its |his |her |their )?(?:procedures?|rules?|instructions?|permits?|sops?)\b|\bfailed to follow\b|"
    r"\bshort-?cuts?\b|\bbypass\w*|\bunsafe acts?\b|\brush(?:ed|ing)\b|\bin a hurry\b|\bhorseplay\b",
    "supervision": r"\bsupervis\w*|\bunsupervised\b",
    "load security": r"\bunsecured\b|\bnot secured\b|\bimproperly (?:secured|stacked|stored)\b|\boverload\w*|\bunstable loads?\b",
    "wet or icy surface": r"\bwet\b|\boily\b|\bicy\b|\bice\b|\bgreasy\b|\bmojad[oa]\b|\bnass\b",
    "communication": r"\b(?:mis)?communicat\w*",
    "maintenance or inspection": r"\bmaintenance\b|\bmaintained\b|\binspect\w*|\bmantenimiento\b|\bwartung\b",
    # what was done after it, and by whom: a repair, a new barrier, an investigation or a regulator's visit is a
    # claim about the past that only a report can support
    "change made": r"\binstall\w*|\brepair\w*|\breplac\w*|\bfixed\b|\bmodifi\w*|\bretrofit\w*|\bremoved\b",
    "investigation": r"\binvestigat\w*|\broot[- ]cause analys\w*|\binvestigaci[oó]n\b|\bunfalluntersuchung\b",
    "regulator": r"\bosha\b|\bregulat(?:or|ors|ory)\b|\binspectorate\b|\bauthorit(?:y|ies)\b|\blabou?r inspect\w*",
    # when it happens: a time of day or a weekday needs a cited fact that says so (a time-pattern fact, a report)
    "time of day": r"\bnights?\b|\bnight[- ]?shifts?\b|\bovernight\b|\bmornings?\b|\bafternoons?\b|\bevenings?\b|\bweekends?\b|"
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b",
    "outage": r"\boutages?\b|\boffline\b",
    # an incident needs a cited fact that holds one (a demo claim: "a dwell alert ... indicates that there was an
    # incident in the hazardous area", citing the alert alone, of a zone without incident reports)
    "incident": r"\bincidents?\b|\baccidents?\b|\bincidentes?\b|\baccidentes?\b|\bacidentes?\b|\bunf[aä]ll\w*",
    # a change over time needs a cited fact that states one (the score fact says "trend rising / falling /
    # stable / new"): "a significant increase in incidents" against "trend new (no evidence in the previous period)" fails
    "increase": r"\bincreas\w*|\brising\b|\brose\b|\bris(?:e|es)\b|\bgrow\w*|\bsurg\w*|\bmore often\b",
    "no change": r"\bstable\b|\bunchanged\b|\bsame level\b",
    "decrease": r"\bdecreas\w*|\bdeclin\w*|\bfalling\b|\bimprov\w*|\bless often\b",
    # a zone's facts say nothing of the other zones: "the highest risk zone" (a trial's verified claim, of a zone
    # ranked third) needs a cited fact that ranks it, which no fact does
    "comparison with other zones": r"\b(?:highest|lowest|greatest)[- ]risk (?:zones?|areas?)\b|\briskiest\b|"
    r"\b(?:highest|lowest|safest|most dangerous|most hazardous|least dangerous)\s+(?:risk\s+)?(?:zones?|areas?|parts? of the (?:site|plant))\b|"
    r"\bthan (?:the |any |all )?other (?:zones?|areas?)\b|\bof the (?:site|plant)'s zones\b",
    # intent and blame: a report a manager signs must not invent who meant what ("moved them by accident")
    "intent or blame": r"\bby accident\b|\baccidental\w*|\bby mistake\b|\bdeliberate\w*|\bon purpose\b|"
    r"\bintentional\w*|\bcareless\w*|\bnegligen\w*|\bto blame\b|\bblam\w*",
}
PERIOD_KINDS = frozenset({"score", "count", "hazard", "pattern"})  # facts about the whole period, not one item
_CONCEPTS = {name: re.compile(rx, re.IGNORECASE) for name, rx in LEXICON.items()}
# A risk level the claim states: "high-risk", "medium risk level", "the risk ... is high" (not "high pressure").
_LEVEL = r"(low|medium|moderate|high|critical)"
_CLAIMED_LEVEL = re.compile(
    rf"\b{_LEVEL}(?:[- ]risk\b|\s+risk\s+level\b|\s+level\s+of\s+risk\b)"
    rf"|\brisk(?:\s+level)?\b[^.;]{{0,60}}?\b(?:(?:is|was|remains|stays|rated|considered)\s+|:\s*)(?:very\s+|relatively\s+|a\s+)?{_LEVEL}\b",
    re.IGNORECASE,
)
_FACT_LEVEL = re.compile(rf"\blevel\s+{_LEVEL}\b", re.IGNORECASE)


def _levels(text: str, rx: re.Pattern[str]) -> set[str]:
    """Risk levels ``rx`` finds in ``text`` (lower case; "moderate" read as "medium")."""
    found = {next(g for g in m.groups() if g).lower() for m in rx.finditer(text)}
    return {"medium" if x == "moderate" else x for x in found}
_WORDS = {w: n for n, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen",
     "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
)} | {"thirty": 30, "forty": 40, "fifty": 50, "hundred": 100, "dozen": 12, "twice": 2, "double": 2, "doubled": 2, "triple": 3, "tripled": 3}
# "one" is left out: "one of the alerts", "no one" count nothing
_SPELLED = "|".join(sorted((w for w in _WORDS if w not in {"zero", "one"}), key=len, reverse=True))
_NUMBER_WORD = re.compile(rf"\b({_SPELLED})\b", re.IGNORECASE)
_COUNTED = re.compile(
    rf"(?<![\w.])(\d+(?:\.\d+)?|{_SPELLED})\s+(?:[a-z-]+\s+){{0,2}}?"
    r"(incident|alert|anomal|outage|report|item)",
    re.IGNORECASE,
)


# "0 camera outages", "no injury reported", "zero alerts": a concept named as absent (up to two words between).
_NONE = re.compile(r"(?<![\w.])(?:0|zero|no|none of the)\s+(?:[a-z-]+\s+){0,2}[a-z-]+", re.IGNORECASE)


def numbers_in(text: str) -> list[float]:
    """Numbers written in ``text``: digit groups (also inside ids and dates) and the number words of ``_WORDS``
    (two to twenty, tens to fifty, hundred, dozen, twice/double, triple)."""
    out = [float(m) for m in re.findall(r"\d+(?:\.\d+)?", text)]
    out += [float(_WORDS[m.lower()]) for m in _NUMBER_WORD.findall(text)]
    return out


def concepts_in(text: str) -> set[str]:
    """Lexicon concepts ``text`` mentions."""
    return {name for name, rx in _CONCEPTS.items() if rx.search(text)}


def _matches(x: float, facts: list[float]) -> bool:
    return any(x == y or x == round(y) or x == round(y, 1) for y in facts)


def _counted(text: str) -> set[tuple[float, str]]:
    out = set()
    for num, kind in _COUNTED.findall(text):
        n = float(_WORDS[num.lower()]) if num.lower() in _WORDS else float(num)
        out.add((n, kind.lower()))
    return out


# A duration: "lasting 3 seconds", "a 40-s dwell", "for 5 min", "two hours" (the facts write "lasted 40 s").
# Digits take any unit ("3 s", "40-s", "2 h"); a number word only a whole one ("two hours": "ones", "dozens" are none).
_DURATION = re.compile(
    r"(?<![\w.:])(?:(\d+(?:\.\d+)?)[\s-]*(seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h)"
    rf"|({_SPELLED}|one)[\s-]+(seconds?|minutes?|hours?))\b",
    re.IGNORECASE,
)
_SECONDS = {"s": 1, "m": 60, "h": 3600}  # by the unit's first letter (seconds/secs/s, minutes/mins, hours/hrs/h)
# "each", "every", "both", "apiece": the number holds for every cited item, not for one of them
_EACH = re.compile(r"\beach\b|\bevery\b|\bboth\b|\bapiece\b|\ball (?:of them )?last\w*", re.IGNORECASE)


def durations_in(text: str) -> list[float]:
    """Durations written in ``text``, in seconds ("3 seconds" 3, "5 min" 300, "two hours" 7200)."""
    out = []
    for digits, unit, word, word_unit in _DURATION.findall(text):
        n = float(digits) if digits else float(_WORDS.get(word.lower(), 1))  # "one" is 1
        out.append(n * _SECONDS[(unit or word_unit)[0].lower()])
    return out


def _duration_problem(claim: str, cited: list[str]) -> str | None:
    """Why the durations of ``claim`` are not those of the cited facts: each must be one of theirs (a date's "03"
    is no 3 seconds), and one said of "each" / "every" / "both" items must be that of every cited fact with one."""
    said = durations_in(claim)
    if not said:
        return None
    per_fact = [d for d in (durations_in(t) for t in cited) if d]
    every = [d for ds in per_fact for d in ds]
    for x in said:
        if not _matches(x, every):
            return f"the duration {x:g} s is in none of the cited facts"
    if _EACH.search(claim) and len(set(said)) == 1:  # one duration said of several items ("lasting 3 s each")
        x = said[0]
        if not all(_matches(x, ds) for ds in per_fact):
            return f"says each lasted {x:g} s; the cited facts give " + ", ".join(f"{d:g} s" for ds in per_fact for d in ds)
        items = max((n for n, _ in _counted(claim)), default=0)
        if items > len(per_fact):  # "each of the 16 alerts lasted 40 s" citing one alert
            return f"says each of {items:g} items lasted {x:g} s; the cited facts give the duration of {len(per_fact)}"
    return None


# A reason the claim gives ("... is medium risk due to the camera's proximity"): the words after it, up to the end of the
# clause, must be words of the cited facts. A small model explains a computed level with causes nobody wrote.
_REASON = re.compile(
    r"\b(?:due to|because(?: of)?|caused by|as a result of|owing to|resulting from|attributed to|stems? from)\s+([^.;:!?]+)",
    re.IGNORECASE,
)
_FUNCTION_TEXT = (
    "the a an of in on at to for from by with and or its their his her this that these those there which who was were is "
    "are be been being has have had it as into near over under than then also all any each both some more most very "
    "such other same only high low medium "
    # generic words of an explanation that carry no cause of their own (the concepts of LEXICON are checked apart)
    "occurrence occurrences involving involved involves involve related several many multiple number presence potential "
    "possible possibly risk risks hazard hazards hazardous like including include includes type types kind kinds factor "
    "factors various frequent recent recently accident accidents incident incidents event events case cases issue "
    "issues situation zone zones area areas period"
)
_FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())


def _reason_problem(claim: str, support: str) -> str | None:
    """Why a reason the claim gives is not in the cited facts: each content word of the clause after "due to",
    "because", "caused by", ... must start like a word of the facts (its first five letters, so "reversing" is
    "reversed" and "alerts" is "alert"); numbers are checked by the number rule."""
    have = {w[:5] for w in re.findall(r"[a-zà-ÿ]+", support.lower())}
    for clause in _REASON.findall(claim):
        words = [w for w in re.findall(r"[a-zà-ÿ]+", clause.lower()) if w not in _FUNCTION_WORDS and len(w) > 2]
        missing = [w for w in words if w[:5] not in have]
        if missing:
            return f"gives a reason ({', '.join(missing)}) that none of the cited facts state"
    return None


def too_long(claim: Claim) -> str | None:
    """Why ``claim`` is too long for a summary, or None: a claim is one sentence a reader takes in, at most
    ``CLAIM_CHARS`` (300) characters (a small model otherwise copies a whole incident fact into a "claim"). Checked
    with the facts (``llm.grounded.check_all``), so such a claim goes back to the model once with the reason and is
    dropped if it stays too long, while the answer's other claims still count."""
    n = len(claim.text.strip())
    return f"is {n} characters long; a claim is one sentence of at most {CLAIM_CHARS} characters" if n > CLAIM_CHARS else None


def _without_zone_and_period(text: str, sheet: FactSheet) -> str:
    """``text`` with the zone's id and the period's dates taken out: they are known whatever the claim cites
    ("zone local_01, from 2024-10-01 to 2024-10-31, ..."), but only where written as such, so a "9" or an "11" of
    the period's dates does not pass as any other number."""
    spaced = sheet.zone_id.replace("_", " ")  # "press_line" written as "Press Line": its words are no safety concept
    for known in sorted({sheet.zone_id, spaced, sheet.period, *re.findall(r"\d{4}-\d{2}-\d{2}", sheet.period)}, key=len, reverse=True):
        text = re.sub(rf"(?<![\w-]){re.escape(known)}(?![\w-])", " ", text, flags=re.IGNORECASE)
    return text


def check_claim(claim: Claim, sheet: FactSheet) -> str | None:
    """Why ``claim`` is not supported by the facts it cites, or None when it is (see the module docstring)."""
    if not claim.facts:
        return "cites no fact"
    cited = []
    for fid in claim.facts:
        fact = sheet.get(fid)
        if fact is None:
            return f"cites '{fid}', which is not a fact of zone {sheet.zone_id}"
        cited.append(fact.text)
    support = " | ".join(cited)
    known_removed = _without_zone_and_period(claim.text, sheet)
    facts = read_calendar(support)  # dates, times and ids read as such
    said = read_calendar(spell_ids_as(known_removed, facts.ids))
    # the period's first and last day, for a claim about the period (citing the score, a count, a hazard or a pattern);
    # an alert or a report has its own date
    about_period = any((f := sheet.get(fid)) is not None and f.kind in PERIOD_KINDS for fid in claim.facts)
    period = [d for readings in read_calendar(sheet.period).dates for d in readings] if about_period else []
    calendar = calendar_problem(said, facts, period)
    if calendar:
        return calendar
    fact_numbers = numbers_in(facts.rest)
    for x in numbers_in(said.rest):
        if not _matches(x, fact_numbers):
            return f"the number {x:g} is in none of the cited facts"
    duration = _duration_problem(known_removed, cited)
    if duration:
        return duration

    fact_counts = _counted(facts.rest)
    for n, kind in _counted(said.rest):  # ids taken out: "report 7 and incident 8" counts no 7 incidents
        if not any(kind == k and _matches(n, [m]) for m, k in fact_counts):
            return f"'{n:g} {kind}...' is not a count in the cited facts"
    said_concepts, said_none = _split_none(known_removed)
    have, have_none = _split_none(support)
    missing = sorted(said_concepts - have - have_none)
    if missing:
        return f"mentions {', '.join(missing)}, which none of the cited facts mention"
    only_none = sorted(said_concepts - have)
    if only_none:
        return f"mentions {', '.join(only_none)}, which the cited facts mention only as none"
    if said_none - have_none:
        return f"says there was no {', '.join(sorted(said_none - have_none))}, which the cited facts do not say"
    score = sheet.get("score")  # the zone's computed level is known whatever the claim cites, like its id and period
    reason = _reason_problem(said.rest, support + (" | " + score.text if score is not None else ""))
    if reason:
        return reason
    said_levels = _levels(claim.text, _CLAIMED_LEVEL)
    fact_levels = _levels(support + (" | " + score.text if score is not None else ""), _FACT_LEVEL)
    if said_levels - fact_levels:
        return (f"says the risk is {', '.join(sorted(said_levels))}; the zone's computed level is "
                + (", ".join(sorted(fact_levels)) if fact_levels else "not given"))
    return None


def _split_none(text: str) -> tuple[set[str], set[str]]:
    """(concepts ``text`` mentions as present, concepts it names only as absent: "0 outages", "no injury")."""
    absent = " ".join(_NONE.findall(text))
    return concepts_in(_NONE.sub(" ", text)), concepts_in(absent)
