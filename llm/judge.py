"""Hazard class (and a stated death) from the model's own next-token probabilities, under fixed prompts.

Besides the ``hazard_category`` of the generated JSON, the model answers short fixed questions about the
report with ONE token each; the probabilities of the allowed answer tokens are the judgement. The questions
follow the extraction's own system prompt and ``<report>`` block (judge-v7): on the local backend each
report is judged right after its extraction (``shares_context``), so llama.cpp evaluates only the question
tokens (judge-v6 had a system prompt of its own and read every report a second time: 6.1 instead of 4.3 s
per report through the risk job on 2 cores, benchmarks/RESULTS.md issue 12):

* hazard class: the classes of ``schemas.llm`` are listed in the fixed system prompt with one plain
  word each in brackets (``Struck``, ``Caught``, ``Fall``, ...; the words' first tokens are distinct) and
  their one-line definitions; the answer distribution over the words is **contextually calibrated**
  (Zhao et al. 2021, "Calibrate Before Use", ICML): it is divided by the distribution the same prompt
  gives for content-free reports (``N/A``, empty, ``[MASK]``), which removes the model's preference for
  some words whatever the report says, and renormalised. No data set is used for this;
* second opinion: the packaged sentence-embedding model (all-MiniLM-L6-v2) scores every class by the
  cosine between the report and the class definition; ``softmax(cosine / 0.05)`` makes that a
  distribution (0.05 is the temperature the model was trained with: sentence-transformers'
  MultipleNegativesRankingLoss, scale 20). The stored class is the **product of the experts**,
  ``argmax(P_judge * P_embedding)`` with the third opinion below multiplied in (Hinton 2002, "Training
  products of experts by minimizing contrastive divergence"; the opinions multiplied as if independent
  evidence, as in naive Bayes, which they are not quite: the two embedding opinions share a model and the
  mechanism is the judge's own model's words, so the gain is an empirical one): a judge that is sure keeps
  its class unless both embeddings lean elsewhere, a judge torn between classes is decided by them. The
  generated JSON field is kept as a record, not a vote (judge-v5 took the majority of judge, JSON
  field and embedding; on the 87 mappable development rows that stored 31 right, the product 35, and
  the product files the demo's forklift near miss as ``vehicle`` where the majority said
  ``manual_handling``; benchmarks/RESULTS.md, issue 12). Every opinion is kept in the row's
  ``raw["judge"]``, so disagreements can be listed;
* third opinion, the mechanism (judge-v10): the same embedding model scores the extraction's OWN short
  account of how it happened - its ``equipment`` and ``causes`` fields, ``"; "``-joined
  (:func:`mechanism_text`) - against the class definitions, with the same temperature. The model has
  already distilled the report to a few words about the event; a one-line definition is nearer to those
  than to a whole report full of names, places and aftermath. The stored class is then
  ``argmax(P_judge * P_embedding(report) * P_embedding(mechanism))``; no weight or threshold is added, and
  a row whose answer names neither equipment nor cause (or only a placeholder such as "none") has no
  third opinion. On the 87 mappable development rows (offline from the stored answers of a whole-file run,
  then end to end): mechanism alone 42, the two-expert product 42, the three-expert product 47 (7 rows
  gained, 2 lost; exact McNemar p = 0.18, so not a significant difference on this sample, and measured on
  the rows it was first tried on); benchmarks/RESULTS.md, issue 12;
* a report not in English (``llm.language``): the embedding model was trained on English only, so its opinion of
  such a report is left out, and so is the mechanism's unless the answer wrote it in English (the extraction asks
  it to, :data:`floorwatch.llm.prompts.IN_ENGLISH`); an English report is judged as before. On 12 invented
  reports in Spanish, French, German and Portuguese (not from any data set; RESULTS.md issue 12, twelfth
  session) the stored class was right on 4 with both opinions, on 8 without the non-English ones;
* a stated death: one yes/no question ("Does the report say that someone died?"),
  ``p = P(Yes) / (P(Yes) + P(No))``; with ``p >= DEATH_PROBABILITY`` (0.8) the stored actual and potential
  severity are 5. Severity 5 is a strong claim in a report a manager signs, so the model must be sure (odds
  4:1), not merely lean: on invented sentences (tests/test_llm_judge.py) explicit deaths read 0.86-0.96 and
  injuries or "could have killed him" 0.19-0.45; no report of the development file states a death, and at
  the earlier ``p >= 0.5`` 8 (judge-v7) or 19 (judge-v8) of its 285 reports were set to severity 5
  (maximum p 0.72; benchmarks/RESULTS.md, issue 12).
  Otherwise the severity digits stay the generated JSON's.
* the potential, read a second way (judge-v11): "What is the potential_severity (1-5)? Answer with the digit."
  after the same report; the stored probability-weighted potential (``potential_severity_expected``) is
  ``E[max(A, P)]`` with P the **equal mixture** of this distribution over ``1``..``5`` and the JSON answer's
  (:func:`mixed_potential`), i.e. the mean of the two readings' ``E[max]``. The JSON's digit is written after the
  answer's own class and actual severity and leans on them (a near miss answered ``injury: false`` first was read
  as minor, extract-v10); the question reads the report alone. Measured before it was adopted (seventh session,
  a scratch script on all 285 development reports, extract-v9): Spearman with the labelled potential 0.352 (JSON),
  0.415 (question alone), **0.394 for the mean, the combination fixed before the run** (benchmarks/RESULTS.md,
  issue 12); it costs one question of ~20 tokens after the cached report.
* optional (``severity_questions=True``, used by ``benchmarks/risk_quality.py``): anchored yes/no
  questions on the 1-5 scale of ``schemas.llm`` (injured, medical treatment, lost time, died; serious
  injury possible, large energy released - the energy-source view of serious-injury-and-fatality
  precursors -, could have killed) combined by a fixed rule::

    actual    = 1 + p(injured) + p(medical treatment) + p(lost time) + p(died)        (1 to 5)
    potential = max(actual, 2 + p(serious injury possible) + p(energy released) + p(could have killed))

  On 41 labelled development rows this ranked severity no better than the JSON fields (Spearman,
  potential 0.18 vs 0.35, actual 0.37 vs 0.43; benchmarks/RESULTS.md, issue 12), so it is not used
  for stored rows.

No wording, threshold or example comes from any data set.

Backends: :class:`LlamaScorer` (llama-cpp-python, logits of the last token after a prefix-reusing
``eval``) and :class:`OpenAIScorer` (any OpenAI-compatible server: ``logprobs`` + ``top_logprobs``
with ``max_tokens=1``). A backend that gives no probabilities has no scorer (``scorer_for`` returns
None) and the extraction's JSON fields are kept; so does offline ``vllm`` (judge a vLLM model through
``vllm serve`` and the ``openai`` backend).
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import httpx
import numpy as np
from pydantic import BaseModel, Field

from floorwatch.llm.language import ENGLISH, report_language
from floorwatch.llm.prompts import _HAZARD_LINES, CLASS_WORDS, EXTRACT_SYSTEM, report_block
from floorwatch.llm.severity import SEVERITY_DIGITS, certain
from floorwatch.schemas.llm import DEATH_PROBABILITY, HAZARD_CATEGORIES, IncidentExtraction

JUDGE_VERSION = "judge-v11"
CLASS_DEFINITIONS = tuple(line.partition(": ")[2] for line in _HAZARD_LINES)
# The extraction's system prompt (class list with each class word in brackets): a question after the same
# <report> block reuses the KV cache of the whole report, so the judge costs only its question tokens.
JUDGE_SYSTEM = EXTRACT_SYSTEM
# Short on purpose: after a cached report only the question's tokens are evaluated (~13 ms each on 2 cores);
# the system prompt already says a question is answered with one word. (judge-v7 asked "Which hazard class
# describes how the person was hurt or could have been hurt? Answer with the class word in brackets only.")
CLASS_QUESTION = "Which class word fits how the person was or could have been hurt?"
# The potential as a question of its own after the cached report (judge-v11): its digit distribution is mixed with
# the JSON answer's, whose potential digit follows the answer's own class and actual severity (module docstring).
POTENTIAL_QUESTION = "What is the potential_severity (1-5)? Answer with the digit."
EMBEDDING_TEMPERATURE = 0.05  # all-MiniLM-L6-v2's training temperature (MultipleNegativesRankingLoss, scale 20)
CONTENT_FREE = ("N/A", "", "[MASK]")  # Zhao et al. 2021: inputs that carry no content
# Words a small model writes for "nothing": not a mechanism (compared lower-cased, without surrounding " .-")
_PLACEHOLDERS = frozenset({"", "none", "no", "unknown", "not known", "n/a", "na", "null", "nil", "not stated", "not specified"})
# name -> question; answers Yes/No
QUESTIONS: dict[str, str] = {
    "injured": "Was anyone injured, even slightly? Answer Yes or No.",
    "treated": "Did the injured person need medical treatment beyond first aid (a doctor, clinic or hospital)? Answer Yes or No.",
    "lost_time": "Did the injury keep the person off work, or was it a fracture, amputation or similar? Answer Yes or No.",
    "died": "Did someone die? Yes or No.",
    "serious_possible": "Could this event, a little worse, have caused a serious or permanent injury such as an amputation, a crushed limb or a fracture? Answer Yes or No.",
    "energy": "Was a large energy involved: a fall from height, a moving vehicle or machine, a heavy or suspended load, pressure, electricity, molten metal, fire or explosion? Answer Yes or No.",
    "could_kill": "Could this event, a little worse, realistically have killed someone? Answer Yes or No.",
}


class Judgement(BaseModel):
    """One report's judged hazard class and severities, with the probabilities behind them."""

    hazard_category: str
    hazard_probability: float = Field(ge=0, le=1, description="Calibrated probability of the chosen class")
    died: float = Field(ge=0, le=1, description="P(Yes) that the report states a death")
    severity: float | None = Field(None, ge=1, le=5, description="Rule-based actual severity (severity_questions only)")
    potential_severity: float | None = Field(
        None, ge=1, le=5, description="Rule-based potential severity (severity_questions only)"
    )
    answers: dict[str, float] = Field(default_factory=dict, description="P(Yes) per question")
    probabilities: list[float] = Field(
        default_factory=list, description="Calibrated judge distribution over HAZARD_CATEGORIES (schema order)"
    )
    second_opinion: str | None = Field(None, description="Class nearest by sentence embedding (all-MiniLM-L6-v2), if run")
    similarities: list[float] | None = Field(
        None, description="Embedding cosine of the report to each class definition (schema order), if run"
    )
    mechanism: str | None = Field(None, description="The extraction's equipment and causes, '; '-joined (mechanism_text), if any")
    mechanism_opinion: str | None = Field(None, description="Class nearest to the mechanism by sentence embedding, if run")
    mechanism_similarities: list[float] | None = Field(
        None, description="Embedding cosine of the mechanism to each class definition (schema order), if run"
    )
    combined: str | None = Field(None, description="Stored class: argmax of judge x embedding x mechanism (combine_opinions)")
    language: str | None = Field(
        None, description="Language of the report (llm.language); the report's embedding opinion counts only in English"
    )
    potential_probabilities: list[float] | None = Field(
        None, description="The digits 1-5's probabilities as the answer to POTENTIAL_QUESTION (judge-v11), if asked"
    )

    @property
    def disagreement(self) -> bool:
        """True when the report embedding's class (``second_opinion``) differs from the judged one (the mechanism's
        class is not compared here; ``storage.queries.other_opinions`` lists all three)."""
        return self.second_opinion is not None and self.second_opinion != self.hazard_category


class TokenScorer(Protocol):
    """Log-probabilities of candidate first tokens of the answer to (system, user)."""

    def first_token_logprobs(self, system: str, user: str, candidates: Sequence[str]) -> list[float]: ...


class Embedder(Protocol):
    """Sentence embeddings, L2-normalised rows (``floorwatch.manuals.embed.Embedder``)."""

    def encode(self, texts: list[str]) -> Any: ...


def combine(p: dict[str, float]) -> tuple[float, float]:
    """The fixed rule of the module docstring: (actual, potential) from P(Yes) per question."""
    actual = 1 + p["injured"] + p["treated"] + p["lost_time"] + p["died"]
    potential = max(actual, 2 + p["serious_possible"] + p["energy"] + p["could_kill"])
    if p["died"] >= DEATH_PROBABILITY:
        actual = potential = 5.0
    return min(5.0, actual), min(5.0, potential)


def _yes(logps: list[float]) -> float:
    y, n = (math.exp(v) if v > -1e9 else 0.0 for v in logps)
    return y / (y + n) if y + n > 0 else 0.5


def _probs(logps: Sequence[float]) -> np.ndarray:
    lp = np.asarray(logps, dtype=float)
    p = np.exp(lp - lp.max()) if np.isfinite(lp.max()) else np.ones_like(lp)
    return p / p.sum()


def _report_block(text: str, max_chars: int) -> str:
    return report_block(text, max_chars) + "\n"


_BIAS: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()


def class_bias(scorer: TokenScorer) -> np.ndarray:
    """Mean class distribution of the class question on content-free reports (computed once per scorer).

    Shape ``(len(HAZARD_CATEGORIES),)``, sums to 1, floored at 1e-4 so no class is divided by zero.
    """
    if scorer not in _BIAS:
        words = list(CLASS_WORDS.values())
        dists = [_probs(scorer.first_token_logprobs(JUDGE_SYSTEM, _report_block(t, 100) + CLASS_QUESTION, words)) for t in CONTENT_FREE]
        _BIAS[scorer] = np.maximum(np.mean(dists, axis=0), 1e-4)
    return _BIAS[scorer]


def class_probabilities(scorer: TokenScorer, text: str, max_chars: int = 3000) -> np.ndarray:
    """Contextually calibrated class distribution of one report (schema order, sums to 1)."""
    raw = _probs(scorer.first_token_logprobs(JUDGE_SYSTEM, _report_block(text, max_chars) + CLASS_QUESTION, list(CLASS_WORDS.values())))
    cal = raw / class_bias(scorer)
    return cal / cal.sum()


# id(embedder) -> (weak reference to it, its embeddings of CLASS_DEFINITIONS); keyed by identity, not equality
_DEFINITIONS: dict[int, tuple[weakref.ref[Any], np.ndarray]] = {}


def _definitions(embedder: Embedder) -> np.ndarray:
    """The embedder's embeddings of the class definitions, shape ``(len(HAZARD_CATEGORIES), dim)``.

    Computed once per embedder object (its ``encode`` is taken to be a pure function); an embedder that
    cannot be weakly referenced encodes them on every call.
    """
    cached = _DEFINITIONS.get(id(embedder))
    if cached is not None and cached[0]() is embedder:
        return cached[1]
    classes = np.asarray(embedder.encode(list(CLASS_DEFINITIONS)))
    with contextlib.suppress(TypeError):  # not weakly referenceable: no cache
        key = id(embedder)
        _DEFINITIONS[key] = (weakref.ref(embedder, lambda _, key=key: _DEFINITIONS.pop(key, None)), classes)
    return classes


def class_similarities(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Cosine of each text to each class definition: shape ``(len(texts), len(HAZARD_CATEGORIES))``."""
    if not texts:
        return np.zeros((0, len(HAZARD_CATEGORIES)))
    return np.asarray(embedder.encode(list(texts))) @ _definitions(embedder).T


def mechanism_text(extraction: IncidentExtraction) -> str | None:
    """The extraction's own account of how it happened: ``equipment`` then each of ``causes``, ``"; "``-joined.

    None when the answer names neither (then there is no mechanism opinion); a part that is only a placeholder
    ("none", "unknown", "n/a", ...) is left out. Body part and zone say where, not how, and are left out too.
    """
    parts = (p.strip() for p in [extraction.equipment or "", *extraction.causes])
    text = "; ".join(p for p in parts if p and p.lower().strip(" .-") not in _PLACEHOLDERS)
    return text or None


def _mechanism_opinion(embedder: Embedder | None, extraction: IncidentExtraction) -> tuple[str | None, list[float] | None]:
    """(mechanism text, its cosines to the class definitions); cosines None without an embedder, a mechanism, or
    when the embedder fails on it (the row keeps its other opinions)."""
    mechanism = mechanism_text(extraction)
    if embedder is None or mechanism is None:
        return mechanism, None
    try:
        return mechanism, [float(x) for x in class_similarities(embedder, [mechanism])[0]]
    except (RuntimeError, ValueError):
        return mechanism, None


def nearest_class(similarities: Sequence[float]) -> str:
    """The class whose definition is nearest, from one row of :func:`class_similarities`."""
    return HAZARD_CATEGORIES[int(np.argmax(similarities))]


def nearest_classes(embedder: Embedder, texts: Sequence[str]) -> list[str]:
    """Second opinion: per text, the class whose one-line definition is nearest by cosine similarity."""
    return [nearest_class(row) for row in class_similarities(embedder, texts)]


def embedding_probabilities(similarities: Sequence[float]) -> np.ndarray:
    """``softmax(cosine / EMBEDDING_TEMPERATURE)`` over the classes (sums to 1)."""
    x = np.asarray(similarities, dtype=float) / EMBEDDING_TEMPERATURE
    e = np.exp(x - x.max())
    return e / e.sum()


def combine_opinions(
    judge: Sequence[float] | None,
    similarities: Sequence[float] | None,
    generated: str,
    mechanism: Sequence[float] | None = None,
) -> str:
    """The stored class: ``argmax(P_judge * P_embedding(report) * P_embedding(mechanism))`` (product of experts).

    Any opinion that is missing is left out of the product; the generated JSON field when all are.
    ``judge``: calibrated distribution in schema order; ``similarities`` and ``mechanism``: cosines in schema
    order (of the report and of :func:`mechanism_text` to the class definitions).
    """
    if judge is None and similarities is None and mechanism is None:
        return generated
    p = np.ones(len(HAZARD_CATEGORIES))
    if judge is not None:
        p = p * np.asarray(judge, dtype=float)
    for cosines in (similarities, mechanism):
        if cosines is not None:
            p = p * embedding_probabilities(cosines)
    return HAZARD_CATEGORIES[int(np.argmax(p))]


def mixed_potential(generated: Sequence[float] | None, judged: Sequence[float] | None) -> dict[str, list[float]]:
    """``{"potential_severity": ...}``: the equal mixture of the JSON answer's and the judge's potential digits, or
    whichever exists (empty when neither does).

    With ``llm.severity.expected_potential`` (actual and potential independent) the mixture's ``E[max(A, P)]`` is
    the mean of the two readings' ``E[max]``: the combination fixed before it was measured (module docstring).
    """
    parts = [np.asarray(p, dtype=float) / float(np.sum(p)) for p in (generated, judged)
             if p is not None and len(p) == len(SEVERITY_DIGITS) and np.isfinite(p).all() and float(np.sum(p)) > 0]
    if not parts:
        return {}
    return {"potential_severity": [float(x) for x in np.mean(parts, axis=0)]}


def judge_report(scorer: TokenScorer, text: str, max_chars: int = 3000, severity_questions: bool = False) -> Judgement:
    """Hazard class, stated death and potential digits of one report (3 one-token questions; 9 with ``severity_questions``).

    The system prompt and the report are a shared prefix, evaluated once per report.
    """
    probs = class_probabilities(scorer, text, max_chars)
    best = int(np.argmax(probs))
    report = _report_block(text, max_chars)
    asked = QUESTIONS if severity_questions else {"died": QUESTIONS["died"]}
    answers = {name: _yes(scorer.first_token_logprobs(JUDGE_SYSTEM, report + q, ["Yes", "No"])) for name, q in asked.items()}
    actual, potential = combine(answers) if severity_questions else (None, None)
    digit_logps = scorer.first_token_logprobs(JUDGE_SYSTEM, report + POTENTIAL_QUESTION, list(SEVERITY_DIGITS))
    digits = _probs(digit_logps) if max(digit_logps) > -1e9 else None  # a server that listed no digit gave no answer
    return Judgement(
        hazard_category=HAZARD_CATEGORIES[best], hazard_probability=float(probs[best]), died=answers["died"],
        severity=actual, potential_severity=potential, answers=answers, probabilities=[float(x) for x in probs],
        potential_probabilities=[float(x) for x in digits] if digits is not None and np.isfinite(digits).all() else None,
    )


class LlamaScorer:
    """Next-token log-probabilities from a ``llama_cpp.Llama`` (KV cache of the common prefix reused).

    ``formatter``: the chat formatter the backend generates with (``LocalBackend._chat_prompt``, the GGUF's own
    template), so a question after a report continues the extraction's prompt token for token; without one,
    ChatML (the packaged Qwen model's format).
    """

    def __init__(self, llm: Any, formatter: Any = None) -> None:
        self.llm = llm
        self.formatter = formatter
        self._ids: dict[str, int] = {}

    def _token(self, text: str) -> int:
        if text not in self._ids:
            self._ids[text] = self.llm.tokenize(text.encode(), add_bos=False, special=False)[0]
        return self._ids[text]

    def first_token_logprobs(self, system: str, user: str, candidates: Sequence[str]) -> list[float]:
        if self.formatter is not None:
            prompt = self.formatter(messages=[{"role": "system", "content": system}, {"role": "user", "content": user}]).prompt
        else:
            prompt = f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
        tokens = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        from floorwatch.llm.fast_grammar import reuse_prefix  # llama-cpp-python is there: self.llm is a Llama

        keep = reuse_prefix(self.llm, tokens)
        self.llm.eval(tokens[keep:])
        logits = np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),))  # noqa: SLF001
        top = float(logits.max())
        log_z = top + math.log(float(np.exp(logits - top).sum()))
        return [float(logits[self._token(c)]) - log_z for c in candidates]


class OpenAIScorer:
    """Next-token log-probabilities from an OpenAI-compatible server (``top_logprobs``; a candidate not listed = -inf)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout: float = 60.0, top: int = 20) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.model = model
        self.top = top

    def first_token_logprobs(self, system: str, user: str, candidates: Sequence[str]) -> list[float]:
        body = {
            "model": self.model, "max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": self.top,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        }
        reply = self.client.post("/chat/completions", json=body)
        reply.raise_for_status()
        content = (reply.json()["choices"][0].get("logprobs") or {}).get("content") or []
        if not content:
            raise ValueError("the server returned no logprobs")
        tops = [(t["token"].strip(), float(t["logprob"])) for t in content[0].get("top_logprobs", [])]
        # A candidate's first token is a prefix of it ('str' for 'struck_by'); unlisted = impossible.
        return [max((lp for tok, lp in tops if tok and c.startswith(tok)), default=-1e18) for c in candidates]


def scorer_for(backend: Any) -> TokenScorer | None:
    """The scorer of a backend, or None when it cannot give token probabilities (JSON fields are kept)."""
    llm = getattr(backend, "_llm", None)
    if llm is not None and getattr(backend, "name", "") == "local":  # offline vLLM holds a vllm.LLM: no scorer
        return LlamaScorer(llm, getattr(backend, "_chat_prompt", None))
    cfg = getattr(backend, "cfg", None)
    if getattr(backend, "name", "") == "openai" and cfg is not None and cfg.base_url:
        return OpenAIScorer(cfg.base_url, backend.model_name, getattr(cfg, "api_key", None), cfg.timeout_seconds)
    return None


def shares_context(scorer: TokenScorer, backend: Any) -> bool:
    """Whether ``scorer`` reads the KV cache the ``backend`` generates into (the local backend's own ``Llama``).

    Then each report should be judged right after its extraction: the judge's questions continue the
    extraction's prompt, and only the question tokens are evaluated.
    """
    llm = getattr(scorer, "llm", None)
    return llm is not None and llm is getattr(backend, "_llm", None)


def judge_results(
    scorer: TokenScorer,
    texts: Sequence[str],
    results: list[Any],
    embedder: Embedder | None = None,
    *,
    max_chars: int = 3000,
    similarities: Sequence[Sequence[float] | None] | None = None,
) -> tuple[list[Any], list[Judgement | None]]:
    """Set the hazard class of every parsed extraction by :func:`combine_opinions`, and severity 5 where a death is stated.

    The class is the product of the judge's distribution and the embedding's (when an ``embedder`` is
    given or ``similarities`` are passed, one row per text; else the judge's), and, with an ``embedder``,
    the embedding's of each answer's :func:`mechanism_text`; the severities stay the
    JSON's unless the report states a death (then actual = potential = 5, and so are their expected values). ``results`` are
    ``LLMResult[IncidentExtraction]``; the model's own JSON stays in ``raw``, so the opinions can be compared
    later. ``max_chars`` must be the extraction's, so the judge's prompt continues the extraction's. Each
    judgement carries the report embedding's class as ``second_opinion`` and the mechanism's as ``mechanism_opinion``. A row whose judging fails (server
    without logprobs, timeout) keeps its JSON fields and gets None; the batch goes on. Returns the results
    and the judgements, in order.
    """
    out: list[Any] = []
    notes: list[Judgement | None] = []
    if similarities is None:
        rows = class_similarities(embedder, texts) if embedder is not None else None
        similarities = [list(map(float, row)) for row in rows] if rows is not None else [None] * len(texts)
    for text, res, sim in zip(texts, results, similarities, strict=True):
        if res.parsed is None:
            out.append(res)
            notes.append(None)
            continue
        try:
            j = judge_report(scorer, text, max_chars)
        except (httpx.HTTPError, ValueError, KeyError, RuntimeError):
            out.append(res)
            notes.append(None)
            continue
        language = report_language(text)
        # the embedding model reads English only: another language's cosines are noise (llm.language). A report in
        # another language keeps the mechanism's opinion only where the answer wrote its mechanism in English.
        sim = list(map(float, sim)) if sim is not None and language == ENGLISH else None
        mechanism, mech = _mechanism_opinion(embedder, res.parsed)
        if language != ENGLISH and mechanism is not None and report_language(mechanism) != ENGLISH:
            mech = None
        cls = combine_opinions(j.probabilities, sim, res.parsed.hazard_category, mech)
        j = j.model_copy(update={
            "second_opinion": nearest_class(sim) if sim is not None else None, "similarities": sim, "mechanism": mechanism,
            "mechanism_opinion": nearest_class(mech) if mech is not None else None, "mechanism_similarities": mech, "combined": cls,
            "language": language,
        })
        update: dict[str, Any] = {"hazard_category": cls}
        probes = res.probes | mixed_potential(res.probes.get("potential_severity"), j.potential_probabilities)
        if j.died >= DEATH_PROBABILITY:  # a report that states a death is severity 5, whatever the JSON says
            update |= {"severity": 5, "potential_severity": 5, "injury": True}
            probes = {k: certain(5) for k in ("severity", "potential_severity")}  # its expected severity too
        parsed = res.parsed.model_copy(update=update)
        out.append(res.model_copy(update={"parsed": parsed, "probes": probes}))
        notes.append(j)
    return out, notes
