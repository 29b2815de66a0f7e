"""Search the stored manual sections: MiniLM cosine, TF-IDF keywords, or a hybrid of both.

The whole ``manual_sections`` table is loaded and scored with NumPy, which works the same on SQLite
and PostgreSQL and is fast for the few thousand sections a plant's manuals make. (With pgvector, the
cosine part could move into PostgreSQL; it is not installed here.) Without the embedding model the
search falls back to keywords, and every hit says which mode found it.

A hit must reach a minimum similarity; a hazard with no section above it is a *procedure gap*.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sqlalchemy import select
from sqlalchemy.orm import Session

from floorwatch.manuals.embed import Embedder, try_load_embedder
from floorwatch.manuals.sections import embedding_text
from floorwatch.schemas.manuals import RetrievalMode, SectionHit
from floorwatch.schemas.tables import ManualSection

log = logging.getLogger(__name__)

HYBRID_WEIGHT = 0.7  # share of the embedding cosine in the hybrid score; the rest is TF-IDF cosine
MIN_EMBEDDING_SIMILARITY = (
    0.30  # below this cosine a section is not about the query (see benchmarks/retrieval.py)
)
MIN_KEYWORD_SIMILARITY = 0.10  # the same floor for keyword-only search
KEYWORD_MIN_SHARED = 2  # hybrid search: a section found by its words alone shares at least two content words with the query

# Hazard classes (schemas.llm.HazardCategory) and live alert rules, phrased as a search would be.
HAZARD_QUERIES: dict[str, str] = {
    "struck_by": "struck by a falling or moving object, a suspended load or a crane lift",
    "caught_in_machinery": "hand caught in machinery, pinch point, entanglement, machine guard, unexpected start-up",
    "fall_from_height": "fall from height, ladder, platform, scaffold, harness",
    "slip_trip": "slip or trip on the floor, wet floor, obstacles in walkway, housekeeping",
    "electrical": "electric shock, live parts, electrical isolation",
    "chemical_exposure": "chemical exposure, toxic fumes, acid splash, respirator",
    "burn_hot_surface": "burn from hot surface, steam, furnace, hot pipes",
    "fire_explosion": "fire or explosion, flammable liquids storage, ignition sources, hot work",
    "cut_laceration": "cut by sharp edge, blade or sheet metal",
    # by hand, and without the word "manual" (it matched a manual's own title by keyword, and "lifting heavy
    # loads" drew a crane-lift section away from struck_by)
    "manual_handling": "lifting, carrying, pushing or pulling heavy loads by hand, back strain",
    "vehicle": "forklift collision with pedestrian, vehicle traffic",
    "pressure_release": "sudden release of compressed air or hydraulic pressure, hose burst",
    "animal_insect": "insect sting, animal or snake bite, nests and venomous animals at outdoor work",
    "machine": "repeated machine overheating or fault, maintenance on a running machine",
    "restricted_zone_intrusion": "unauthorised person entering a restricted area or danger zone",
    "missing_ppe": "worker not wearing required PPE such as safety helmet or hi-vis vest",
    "person_down": "person lying on the floor injured, emergency response",
    "dwell": "person staying too long in a danger zone",
    "crowding": "too many people in a hazardous area at once",
    "hot_spot": "hot spot, overheating equipment, fire risk",
}

# An alert rule that watches for the same hazard as a hazard class: a section nearest to the rule also speaks of
# those classes (a manual's "Hot surfaces" section is as near to the thermal camera's hot_spot rule as to
# burn_hot_surface, and was once taken by the rule alone, so a site without thermal cameras read a false
# procedure gap for burn_hot_surface). Written from the rules' own definitions (schemas.events.RuleName), not from
# any manual: hot_spot detects hot, overheating surfaces. person_down (a response, not a prevention), missing_ppe,
# restricted_zone_intrusion, dwell and crowding name no single hazard class, and so share nothing.
RULE_HAZARDS: dict[str, tuple[str, ...]] = {"hot_spot": ("burn_hot_surface", "fire_explosion")}

_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    """Lower-case word tokens without stop words, with a crude plural/verb-ending stem."""
    out = []
    for tok in _TOKEN.findall(text.lower()):
        if tok in ENGLISH_STOP_WORDS or len(tok) < 2:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if tok.endswith(suffix) and len(tok) - len(suffix) >= 4 and not tok.endswith("ss"):
                tok = tok[: -len(suffix)]
                break
        out.append(tok)
    return out


def keywords(text: str) -> set[str]:
    """The content words of ``text`` as the keyword search sees them (stop words out, crude stem)."""
    return set(_tokens(text))


@dataclass
class ManualIndex:
    """All stored sections with their vectors and a TF-IDF matrix, ready to be queried many times."""

    sections: list[ManualSection]
    embedder: Embedder | None = None
    embedding_error: str | None = None
    vectors: np.ndarray | None = field(default=None, repr=False)
    _vectorizer: TfidfVectorizer | None = field(default=None, repr=False)
    _tfidf: object | None = field(default=None, repr=False)
    _topics: dict[tuple[RetrievalMode, tuple[tuple[str, str], ...]], list[str]] = field(default_factory=dict, repr=False)
    _words: list[set[str]] = field(default_factory=list, repr=False)  # each section's content words (keywords)

    @classmethod
    def load(
        cls, session: Session, embedder: Embedder | None | Literal["auto"] = "auto", threads: int = 1
    ) -> ManualIndex:
        """Load every section; ``embedder="auto"`` loads the packaged MiniLM (None = keyword search only)."""
        sections = list(
            session.scalars(select(ManualSection).order_by(ManualSection.document, ManualSection.position))
        )
        error = None
        if embedder == "auto":
            embedder, error = try_load_embedder(threads) if sections else (None, None)
            if error:
                log.warning("manual search falls back to keywords: %s", error)
        index = cls(sections=sections, embedder=embedder, embedding_error=error)
        index._build()
        return index

    def _build(self) -> None:
        if not self.sections:
            return
        docs = [f"{s.heading}\n{s.heading}\n{s.text}" for s in self.sections]  # heading counted twice
        self._words = [keywords(f"{s.heading} {s.text}") for s in self.sections]
        self._vectorizer = TfidfVectorizer(analyzer=_tokens, sublinear_tf=True, norm="l2")
        self._tfidf = self._vectorizer.fit_transform(docs)
        if self.embedder is None:
            return
        dims = next((len(s.embedding) for s in self.sections if s.embedding), None)
        missing = [i for i, s in enumerate(self.sections) if not s.embedding or len(s.embedding) != dims]
        fresh = self.embedder.encode([embedding_text(self.sections[i]) for i in missing]) if missing else None
        if dims is None:
            dims = int(fresh.shape[1]) if fresh is not None else 0
        matrix = np.zeros((len(self.sections), dims), dtype=np.float32)
        for i, s in enumerate(self.sections):
            if s.embedding and len(s.embedding) == dims:
                matrix[i] = np.asarray(s.embedding, dtype=np.float32)
        if fresh is not None:
            matrix[missing] = fresh
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        self.vectors = matrix / np.where(norms == 0, 1, norms)

    def scores(self, query: str) -> tuple[np.ndarray | None, np.ndarray]:
        """(embedding cosine or None, TF-IDF cosine) of the query against every section."""
        n = len(self.sections)
        if n == 0 or self._vectorizer is None:
            return None, np.zeros(0)
        kw = np.asarray((self._tfidf @ self._vectorizer.transform([query]).T).todense()).ravel()  # type: ignore[operator]
        if self.embedder is None or self.vectors is None:
            return None, kw
        q = self.embedder.encode([query])[0]
        return self.vectors @ q, kw

    @staticmethod
    def _ranking(emb: np.ndarray | None, kw: np.ndarray, mode: RetrievalMode) -> tuple[RetrievalMode, np.ndarray]:
        """(mode actually used, ranking score per section): keyword when no embedder is loaded."""
        if emb is None or mode == "keyword":
            return "keyword", kw
        return mode, emb if mode == "embedding" else HYBRID_WEIGHT * emb + (1 - HYBRID_WEIGHT) * kw

    def nearest_topics(self, topics: dict[str, str], mode: RetrievalMode = "hybrid") -> list[str]:
        """Per section (index order), the name of the topic whose query it is most like (``mode``'s ranking score).

        ``topics``: name -> query text. Used to ask "which hazard is this section about?" (see
        :func:`sections_for_hazards`). Empty when there are no sections. Kept per index, so the risk job,
        which asks the same question for every zone, embeds the topic queries once.
        """
        if not self.sections or not topics:
            return []
        key = (mode, tuple(topics.items()))
        if key not in self._topics:
            names = list(topics)
            table = np.stack([self._ranking(*self.scores(topics[n]), mode)[1] for n in names], axis=1)
            self._topics[key] = [names[int(j)] for j in table.argmax(axis=1)]
        return self._topics[key]

    def search(
        self, query: str, k: int = 3, mode: RetrievalMode = "hybrid", min_similarity: float | None = None
    ) -> list[SectionHit]:
        """Top ``k`` sections for ``query`` above the minimum similarity (best first).

        Args:
            query: free text (a question, a hazard description).
            k: most hits returned.
            mode: ``hybrid`` (weighted sum), ``embedding`` or ``keyword``; the first two fall back to
                ``keyword`` when no embedder is loaded.
            min_similarity: floor on the embedding cosine (``hybrid``/``embedding``) or on the TF-IDF
                cosine (``keyword``); None uses the module defaults.
        """
        if not query.strip() or k <= 0:
            return []
        emb, kw = self.scores(query)
        mode, score = self._ranking(emb, kw, mode)
        if mode == "keyword":
            gate, floor = kw, MIN_KEYWORD_SIMILARITY if min_similarity is None else min_similarity
        elif mode == "hybrid" and min_similarity is None:
            # either signal clearing its own floor: MiniLM is English-only, so an on-topic section of a bilingual or
            # Spanish manual ("Bloqueo y etiquetado / Lockout-tagout", cosine 0.26) is still found by its words -
            # by two of the query's words at least, so one shared word ("pest control" / "Energy sources to
            # control") is no match
            assert emb is not None
            wanted = keywords(query)
            by_words = np.array([len(wanted & words) >= KEYWORD_MIN_SHARED for words in self._words])
            gate, floor = np.maximum(emb / MIN_EMBEDDING_SIMILARITY, np.where(by_words, kw / MIN_KEYWORD_SIMILARITY, 0.0)), 1.0
        else:
            assert emb is not None
            gate, floor = emb, MIN_EMBEDDING_SIMILARITY if min_similarity is None else min_similarity
        hits: list[SectionHit] = []
        for i in np.argsort(-score, kind="stable"):
            if len(hits) >= k:
                break
            if gate[i] < floor:
                continue
            s = self.sections[int(i)]
            hits.append(
                SectionHit(
                    id=s.id,
                    document=s.document,
                    heading=s.heading,
                    text=s.text,
                    position=s.position,
                    score=round(float(score[i]), 4),
                    embedding_score=None if emb is None else round(float(emb[i]), 4),
                    keyword_score=round(float(kw[i]), 4),
                    mode=mode,
                )
            )
        return hits


def retrieve_sections(
    session: Session,
    query: str,
    k: int = 3,
    *,
    mode: RetrievalMode = "hybrid",
    embedder: Embedder | None | Literal["auto"] = "auto",
    min_similarity: float | None = None,
) -> list[SectionHit]:
    """Top ``k`` manual sections for a free-text query (see :meth:`ManualIndex.search`)."""
    index = ManualIndex.load(session, None if mode == "keyword" else embedder)
    return index.search(query, k, mode, min_similarity)


def hazard_query(hazard: str) -> str:
    """The search text for a hazard class or alert rule (free text is used as it is)."""
    return HAZARD_QUERIES.get(hazard.strip(), hazard.replace("_", " "))


def sections_for_hazards(
    session: Session | ManualIndex,
    hazards: list[str],
    k: int = 2,
    *,
    mode: RetrievalMode = "hybrid",
    min_similarity: float | None = None,
    exclusive: bool = True,
) -> dict[str, list[SectionHit]]:
    """Manual sections covering each hazard; an empty list means no procedure covers it (a gap).

    A section counts for a hazard only when it clears the similarity floor for the hazard's query AND,
    with ``exclusive`` (default), that hazard is the one the section is most like among all hazard
    classes and alert rules (``HAZARD_QUERIES``, plus any free-text hazard asked): hazard and section
    must be each other's match (mutual nearest neighbours), so a section is cited for the hazard it is
    about. Without this, the demo's "Working at height: when it applies" was cited for ``struck_by``
    (a suspended load) because both speak of falling, and "Responding to a person down" for ``dwell``.
    A section about several hazards (a lockout section: electrical and machinery) counts for the one
    it is nearest to; the others may then be reported as gaps, which a reader can check, rather than
    citing a procedure that does not cover them. One exception: a section nearest to an alert rule that watches for
    a hazard class (:data:`RULE_HAZARDS`: ``hot_spot`` for ``burn_hot_surface`` and ``fire_explosion``) also counts
    for whichever of those classes it is nearest to, so a site's "Hot surfaces" section is not lost to a thermal
    camera rule the site may not even have.

    Args:
        session: database session (the index is loaded once for all hazards) or a loaded index.
        hazards: hazard classes (``caught_in_machinery``), alert rules (``missing_ppe``) or free text.
        k: most sections per hazard.
        mode: retrieval mode (see :meth:`ManualIndex.search`).
        min_similarity: similarity floor; None uses the module defaults.
        exclusive: keep only sections whose nearest hazard is this one (see above).
    """
    index = (
        session
        if isinstance(session, ManualIndex)
        else ManualIndex.load(session, None if mode == "keyword" else "auto")
    )
    asked = list(dict.fromkeys(hazards))
    if not exclusive:
        return {h: index.search(hazard_query(h), k, mode, min_similarity) for h in asked}
    topics = {h: hazard_query(h) for h in HAZARD_QUERIES} | {h: hazard_query(h) for h in asked}
    ids = [s.id for s in index.sections]
    owner = dict(zip(ids, index.nearest_topics(topics, mode), strict=True))
    shared = {h for hs in RULE_HAZARDS.values() for h in hs}
    classes = {h: topics[h] for h in topics if h in shared}
    nearest_class = dict(zip(ids, index.nearest_topics(classes, mode), strict=True)) if classes else {}

    def covers(section_id: str, hazard: str) -> bool:
        """The section is about ``hazard``, or about a rule that watches for it and nearest to it among those classes."""
        mine = owner[section_id]
        return mine == hazard or (hazard in RULE_HAZARDS.get(mine, ()) and nearest_class.get(section_id) == hazard)

    every = len(index.sections)
    return {h: [hit for hit in index.search(hazard_query(h), every, mode, min_similarity) if covers(hit.id, h)][:k] for h in asked}


def procedure_gaps(hits_by_hazard: dict[str, list[SectionHit]]) -> list[str]:
    """Hazards no manual section covers."""
    return [h for h, hits in hits_by_hazard.items() if not hits]


def nearest_sections(index: ManualIndex, hazards: list[str], mode: RetrievalMode = "hybrid") -> dict[str, str]:
    """Per hazard, the citation (``document#heading``) of the section nearest to it above the similarity floor.

    For a procedure gap this is the section :func:`sections_for_hazards` left out because it reads as another
    topic's: the report names it, so a reader can check whether it covers the hazard (a gap is a retrieval
    finding, not proof that the manual is silent). Hazards no section comes near are absent.
    """
    out = {}
    for h in hazards:
        hits = index.search(hazard_query(h), 1, mode)
        if hits:
            out[h] = hits[0].citation
    return out
