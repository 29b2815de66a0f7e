"""Token-probability judge: the combination rule, the OpenAI-compatible path over a real socket, the local model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from floorwatch.config import LLMConfig
from floorwatch.llm.backends import OpenAIBackend
from floorwatch.llm.judge import (
    CLASS_WORDS,
    DEATH_PROBABILITY,
    QUESTIONS,
    class_probabilities,
    combine,
    combine_opinions,
    embedding_probabilities,
    judge_report,
    judge_results,
    nearest_classes,
    scorer_for,
)
from floorwatch.llm.severity import expected_severity
from floorwatch.schemas.llm import HAZARD_CATEGORIES
from tests.fixtures_llm import server_port  # noqa: F401 - fixture
from tests.llm_factories import require_local_model
from tests.llm_http_server import POTENTIAL_DIGITS

NONE = dict.fromkeys(QUESTIONS, 0.0)


@pytest.mark.parametrize(
    ("answers", "actual", "potential"),
    [
        (NONE, 1.0, 2.0),  # nothing happened, nothing could: near-miss floor of 2
        (NONE | {"injured": 1.0, "treated": 1.0}, 3.0, 3.0),  # potential never below actual
        (NONE | {"energy": 1.0, "could_kill": 1.0, "serious_possible": 1.0}, 1.0, 5.0),  # a near miss that could kill
        (NONE | {"died": 0.9}, 5.0, 5.0),  # a stated death is severity 5
        (NONE | {"died": 0.7}, 1.7, 2.0),  # a lean towards Yes is not a statement of a death
        (NONE | {"injured": 0.5, "serious_possible": 0.5}, 1.5, 2.5),  # probability-weighted in between
    ],
)
def test_combination_rule(answers: dict[str, float], actual: float, potential: float) -> None:
    assert combine(answers) == (pytest.approx(actual), pytest.approx(potential))


def test_openai_compatible_server_logprobs(server_port: int) -> None:  # noqa: F811
    backend = OpenAIBackend(LLMConfig(backend="openai", base_url=f"http://127.0.0.1:{server_port}/v1", timeout_seconds=10))
    scorer = scorer_for(backend)
    assert scorer is not None
    fatal = judge_report(scorer, "A live cable touched the fitter; he was taken to hospital and died.")
    assert fatal.hazard_category == "electrical" and fatal.hazard_probability > 0.8 and fatal.died > 0.5
    assert fatal.severity is None  # the severity questions are not asked by default
    minor = judge_report(scorer, "A box slid off a shelf next to the packer; nobody was hurt.", severity_questions=True)
    assert minor.hazard_category == "struck_by" and minor.died < 0.5
    assert minor.severity is not None and minor.potential_severity is not None
    assert minor.severity < 2.0 and 2.0 <= minor.potential_severity < 3.0


def test_judged_results_vote_on_the_class_and_set_a_stated_death_to_5(server_port: int) -> None:  # noqa: F811
    from floorwatch.schemas.llm import IncidentExtraction, LLMResult

    backend = OpenAIBackend(LLMConfig(backend="openai", base_url=f"http://127.0.0.1:{server_port}/v1", timeout_seconds=10))
    scorer = scorer_for(backend)
    assert scorer is not None
    texts = ["A live cable touched the fitter; he was taken to hospital and died.", "A box slid off a shelf; nobody was hurt."]
    generated = [
        LLMResult[IncidentExtraction](id=str(i), parsed=IncidentExtraction(
            hazard_category="fall_from_height", severity=2, potential_severity=3, injury=True),
            probes={"severity": [0.1, 0.6, 0.3, 0.0, 0.0], "potential_severity": [0.0, 0.2, 0.5, 0.3, 0.0]})
        for i in range(2)
    ]
    failed = LLMResult[IncidentExtraction](id="x", error="invalid JSON")
    out, notes = judge_results(scorer, [*texts, "whatever"], [*generated, failed])
    assert out[0].parsed.hazard_category == "electrical" and (out[0].parsed.severity, out[0].parsed.potential_severity) == (5, 5)
    assert out[0].parsed.injury  # a death is an injury, whatever the JSON said
    assert out[1].parsed.hazard_category == "struck_by" and (out[1].parsed.severity, out[1].parsed.potential_severity) == (2, 3)
    assert out[2] is failed and notes[2] is None and notes[0] is not None and notes[0].died > 0.5
    # the stated death's expected severities are 5 too; the other row keeps the model's actual distribution, and its
    # potential is the equal mixture of the JSON's (expected 3.1) and the judge's answer to the potential question
    assert [expected_severity(out[0].probes[k]) for k in ("severity", "potential_severity")] == [5.0, 5.0]
    weights = {int(d): math.exp(lp) for d, lp in POTENTIAL_DIGITS}
    judged = sum(d * w for d, w in weights.items()) / sum(weights.values())
    assert expected_severity(out[1].probes["severity"]) == pytest.approx(2.2)
    assert expected_severity(out[1].probes["potential_severity"]) == pytest.approx((3.1 + judged) / 2)
    assert notes[1] is not None and notes[1].potential_probabilities is not None


def test_no_scorer_for_a_backend_without_probabilities() -> None:
    class JsonOnly:
        name = "vllm"
        model_name = "m"

    class OfflineVLLM(JsonOnly):  # holds a vllm.LLM as _llm: not a llama.cpp context
        _llm = object()

    assert scorer_for(JsonOnly()) is None and scorer_for(OfflineVLLM()) is None


@pytest.mark.slow
def test_local_model_judges_a_stated_death_and_a_harmless_slip() -> None:
    require_local_model()
    from floorwatch.config import Settings
    from floorwatch.llm.backends import LocalBackend

    scorer = scorer_for(LocalBackend(Settings().llm))
    assert scorer is not None
    fatal = judge_report(scorer, "The electrician touched a live 400 V busbar while cleaning the panel and died at the scene.")
    minor = judge_report(scorer, "An operator slipped on a dry floor, kept his balance and was not hurt.")
    near = judge_report(scorer, "A steel plate slipped from the crane hook and landed one metre from the slinger; nobody was hurt, but it could have killed him.")
    assert fatal.died >= DEATH_PROBABILITY and fatal.hazard_category == "electrical"
    assert near.died < DEATH_PROBABILITY, near.died  # "could have killed" is no death
    firsts = [scorer._token(w) for w in CLASS_WORDS.values()]  # noqa: SLF001 - the scored token of each class word
    assert len(set(firsts)) == len(firsts), "two class words share a first token"
    assert minor.died < 0.5


def test_class_words_follow_the_schema_and_have_distinct_first_letters() -> None:
    assert tuple(CLASS_WORDS) == HAZARD_CATEGORIES
    assert len({w[:2] for w in CLASS_WORDS.values()}) == len(CLASS_WORDS)


class _Biased:
    """A scorer that prefers 'Cut' whatever the report says, and 'Chemical' a little more for an acid splash."""

    def first_token_logprobs(self, system: str, user: str, candidates: list[str]) -> list[float]:
        acid = "acid" in user.partition("</report>")[0].lower()
        return [(-0.2 if c == "Cut" else -3.0) + (1.5 if acid and c == "Chemical" else 0.0) for c in candidates]


def test_contextual_calibration_removes_a_constant_preference() -> None:
    scorer = _Biased()
    p = class_probabilities(scorer, "Acid splashed on the operator's arm while he opened the valve.")
    assert HAZARD_CATEGORIES[int(np.argmax(p))] == "chemical_exposure"  # raw argmax would be 'Cut'
    assert abs(float(p.sum()) - 1.0) < 1e-9


def test_second_opinion_picks_the_nearest_definition() -> None:
    class OneHot:  # an embedder that knows one word per class definition
        def encode(self, texts: list[str]) -> np.ndarray:
            keys = ["acid", "ladder", "forklift"]
            return np.array([[float(k in t.lower()) for k in keys] + [0.01] for t in texts])

    got = nearest_classes(OneHot(), ["Acid on the arm", "He fell from the ladder", "A forklift reversed"])
    assert got == ["chemical_exposure", "fall_from_height", "vehicle"]


def _sims(**cos: float) -> list[float]:
    """Cosines in schema order: 0.2 everywhere but the named classes."""
    return [cos.get(c, 0.2) for c in HAZARD_CATEGORIES]


def _judge(**p: float) -> list[float]:
    """A judge distribution in schema order: the named probabilities, the rest spread evenly."""
    rest = (1 - sum(p.values())) / (len(HAZARD_CATEGORIES) - len(p))
    return [p.get(c, rest) for c in HAZARD_CATEGORIES]


@pytest.mark.parametrize(
    ("judge", "sims", "generated", "want"),
    [
        # the demo's forklift near miss: a torn judge (0.30 handling, 0.16 vehicle), a clear embedding
        (_judge(manual_handling=0.30, vehicle=0.16, slip_trip=0.13), _sims(vehicle=0.41, fall_from_height=0.29), "fall_from_height", "vehicle"),
        # a sure judge keeps its class against a mildly different embedding (the solvent drums)
        (_judge(chemical_exposure=0.95), _sims(fire_explosion=0.49, chemical_exposure=0.42), "fall_from_height", "chemical_exposure"),
        (_judge(electrical=0.6), None, "struck_by", "electrical"),  # no embedding: the judge
        (None, _sims(cut_laceration=0.5), "struck_by", "cut_laceration"),  # no judge: the embedding
        (None, None, "struck_by", "struck_by"),  # neither: the generated JSON field
    ],
)
def test_product_of_the_two_opinions(judge: list[float] | None, sims: list[float] | None, generated: str, want: str) -> None:
    assert combine_opinions(judge, sims, generated) == want


def test_embedding_distribution_uses_the_training_temperature() -> None:
    p = embedding_probabilities(_sims(vehicle=0.25))
    # a cosine 0.05 higher is e times more likely; sums to 1
    assert p[HAZARD_CATEGORIES.index("vehicle")] / p[0] == pytest.approx(np.e) and p.sum() == pytest.approx(1.0)


def test_a_judge_on_the_backends_own_context_follows_each_extraction(tmp_path) -> None:  # noqa: ANN001
    """On the local backend the judge continues the extraction's KV cache: report 1 extracted, judged, then report 2."""
    from floorwatch.llm.extract import extract_reports
    from floorwatch.llm.judge import shares_context
    from floorwatch.schemas.llm import IncidentExtraction, LLMResult
    from tests.llm_factories import add_incidents, sqlite_db

    calls: list[str] = []
    context = object()

    class Backend:  # the local backend's shape: generate_json on the Llama held as ``_llm``
        name, model_name, _llm = "local", "m", context

        def generate_json(self, requests, schema):  # noqa: ANN001, ANN202
            calls.extend(f"extract {r.id}" for r in requests)
            return [LLMResult[IncidentExtraction](id=r.id, parsed=IncidentExtraction(
                hazard_category="other", severity=1, potential_severity=2, injury=False)) for r in requests]

    class Scorer:
        llm = context

        def first_token_logprobs(self, system: str, user: str, candidates: list[str]) -> list[float]:
            report = user.partition("</report>")[0].partition("<report>")[2].strip()
            if report not in ("", "N/A", "[MASK]"):
                calls.append(f"judge {report}")
            return [0.0] * len(candidates)

    factory = sqlite_db(tmp_path)
    ids = add_incidents(factory, [("a", "z1", "first report"), ("b", "z1", "second report")])
    assert shares_context(Scorer(), Backend()) and not shares_context(Scorer(), object())
    out = extract_reports(factory, Backend(), ids, judge=Scorer())
    assert [o.status for o in out] == ["ok", "ok"]
    order = [c.split()[0] + (" 1" if "first" in c or c.endswith(str(ids[0])) else " 2") for c in calls]
    # the class, death and potential questions of each report right after its extraction
    assert order == ["extract 1", "judge 1", "judge 1", "judge 1", "extract 2", "judge 2", "judge 2", "judge 2"], calls


@pytest.mark.parametrize(
    ("equipment", "causes", "want"),
    [
        ("forklift", ["reversed without a banksman", "alarm inaudible"], "forklift; reversed without a banksman; alarm inaudible"),
        (None, ["  blade slipped "], "blade slipped"),
        ("crane hook", [], "crane hook"),
        (None, [], None),  # names neither: no mechanism opinion
        ("  ", ["", " "], None),
        ("None", ["unknown", "N/A."], None),  # placeholders are not a mechanism
        ("ladder", ["none"], "ladder"),
    ],
)
def test_mechanism_text_is_the_answers_equipment_and_causes(equipment: str | None, causes: list[str], want: str | None) -> None:
    from floorwatch.llm.judge import mechanism_text
    from floorwatch.schemas.llm import IncidentExtraction

    ex = IncidentExtraction(
        hazard_category="other", severity=1, potential_severity=2, injury=True, equipment=equipment, causes=causes,
        body_part="hand", zone="press shop",  # where, not how: never part of the mechanism
    )
    assert mechanism_text(ex) == want


@pytest.mark.parametrize(
    ("judge", "sims", "mechanism", "want"),
    [
        # judge and report embedding torn between two classes: the mechanism decides
        (_judge(struck_by=0.3, cut_laceration=0.3), _sims(struck_by=0.3, cut_laceration=0.3), _sims(struck_by=0.45), "struck_by"),
        (_judge(struck_by=0.3, cut_laceration=0.3), _sims(struck_by=0.3, cut_laceration=0.3), _sims(cut_laceration=0.45), "cut_laceration"),
        # a sure judge and report embedding outvote a mechanism that leans elsewhere
        (_judge(chemical_exposure=0.9), _sims(chemical_exposure=0.5), _sims(fire_explosion=0.3), "chemical_exposure"),
        # weighed once, at the embedding temperature: judge x report favour struck_by by e^3 (cosine +0.15), the
        # mechanism favours cut by e^2 (+0.10); counted twice, the mechanism would win (e^4)
        (_judge(struck_by=0.3, cut_laceration=0.3), _sims(struck_by=0.35), _sims(cut_laceration=0.30), "struck_by"),
        (_judge(struck_by=0.3, cut_laceration=0.3), _sims(struck_by=0.30), _sims(cut_laceration=0.35), "cut_laceration"),
        (None, None, _sims(vehicle=0.4), "vehicle"),  # the mechanism alone
        (_judge(electrical=0.6), None, None, "electrical"),  # no mechanism: as before
    ],
)
def test_the_mechanism_is_a_third_expert(judge: list[float] | None, sims: list[float] | None, mechanism: list[float] | None, want: str) -> None:
    assert combine_opinions(judge, sims, "other", mechanism) == want


def test_judged_results_read_the_mechanism_of_each_answer() -> None:
    """A judge without an opinion (flat) and a report that names nothing: the answer's causes decide the class."""
    from floorwatch.llm.judge import class_similarities
    from floorwatch.schemas.llm import IncidentExtraction, LLMResult

    class Flat:
        def first_token_logprobs(self, system: str, user: str, candidates: list[str]) -> list[float]:
            return [0.0] * len(candidates)

    class Keywords:  # an embedder that knows two words of the class definitions (and one of none); counts its calls
        calls = 0

        def encode(self, texts: list[str]) -> np.ndarray:
            Keywords.calls += 1
            keys = ["moving", "pinched", "ladder"]
            return np.array([[float(k in t.lower()) for k in keys] + [0.01] for t in texts])

    def answer(causes: list[str]) -> LLMResult[IncidentExtraction]:
        return LLMResult[IncidentExtraction](id="1", parsed=IncidentExtraction(
            hazard_category="other", severity=1, potential_severity=2, injury=True, causes=causes))

    embedder = Keywords()
    texts = ["Something happened at the north bay.", "Something happened at the south bay."]
    out, notes = judge_results(Flat(), texts, [answer(["hand pinched between rollers"]), answer([])], embedder)
    assert out[0].parsed.hazard_category == "caught_in_machinery"
    assert notes[0] is not None and notes[0].mechanism == "hand pinched between rollers" and notes[0].mechanism_similarities
    assert notes[0].mechanism_opinion == "caught_in_machinery"
    assert notes[1] is not None and notes[1].mechanism is None and notes[1].mechanism_similarities is None
    before = Keywords.calls
    class_similarities(embedder, ["again"])
    assert Keywords.calls == before + 1  # the class definitions are embedded once per embedder


def test_each_embedder_gets_its_own_class_definitions() -> None:
    """The cache is per embedder object: two embedders that compare equal still get their own definitions."""
    from floorwatch.llm.judge import class_similarities

    class Scaled:
        def __init__(self, k: float) -> None:
            self.k = k

        def __eq__(self, other: object) -> bool:  # equal to every Scaled: the cache must not key by equality
            return isinstance(other, Scaled)

        def __hash__(self) -> int:
            return 0

        def encode(self, texts: list[str]) -> np.ndarray:
            return np.full((len(texts), 2), self.k)

    one, two = Scaled(1.0), Scaled(2.0)
    assert class_similarities(one, ["x"])[0][0] == pytest.approx(2.0)  # (1, 1) . (1, 1)
    assert class_similarities(two, ["x"])[0][0] == pytest.approx(8.0)  # (2, 2) . (2, 2), not (2, 2) . (1, 1)


def test_an_embedder_failing_on_the_mechanism_leaves_the_other_opinions() -> None:
    from floorwatch.schemas.llm import IncidentExtraction, LLMResult

    class Flat:
        def first_token_logprobs(self, system: str, user: str, candidates: list[str]) -> list[float]:
            return [0.0] * len(candidates)

    class Broken:
        def encode(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("embedder out of memory")

    answer = LLMResult[IncidentExtraction](id="1", parsed=IncidentExtraction(
        hazard_category="other", severity=1, potential_severity=2, injury=True, causes=["hand pinched"]))
    sims = [_sims(vehicle=0.5)]
    out, notes = judge_results(Flat(), ["A forklift reversed."], [answer], Broken(), similarities=sims)
    assert out[0].parsed.hazard_category == "vehicle"
    assert notes[0] is not None and notes[0].mechanism == "hand pinched" and notes[0].mechanism_similarities is None


def test_the_potential_is_the_equal_mixture_of_the_two_readings() -> None:
    from floorwatch.llm.judge import mixed_potential
    from floorwatch.llm.severity import expected_potential

    json_digits, judged = [0.0, 0.0, 0.5, 0.5, 0.0], [0.0, 2.0, 2.0, 0.0, 0.0]  # the judge's unnormalised
    mixed = mixed_potential(json_digits, judged)["potential_severity"]
    assert mixed == pytest.approx([0.0, 0.25, 0.5, 0.25, 0.0])
    # with the actual independent of both, E[max] of the mixture is the mean of the two readings' E[max]
    actual = [0.2, 0.5, 0.3, 0.0, 0.0]
    both = (expected_potential(actual, json_digits) + expected_potential(actual, [0.0, 0.5, 0.5, 0.0, 0.0])) / 2
    assert expected_potential(actual, mixed) == pytest.approx(both)
    assert mixed_potential(None, judged) == {"potential_severity": pytest.approx([0.0, 0.5, 0.5, 0.0, 0.0])}
    assert mixed_potential(json_digits, None)["potential_severity"] == pytest.approx(json_digits)
    assert mixed_potential(None, None) == {} and mixed_potential([0.0] * 5, [1.0, 2.0]) == {}  # no usable reading


def test_a_report_not_in_english_gets_no_english_only_embedding_opinion() -> None:
    """The embedding model reads English only: on a Spanish report its cosines outvoted the judge (an invented set:
    4 of 12 classes right with them, 8 without). The report's opinion is left out, and the mechanism's unless the
    answer wrote it in English."""
    from floorwatch.schemas.llm import IncidentExtraction, LLMResult

    class Leaning:  # a judge that leans to electrical where the report names a cable
        def first_token_logprobs(self, system: str, user: str, candidates: list[str]) -> list[float]:
            return [2.0 if c == CLASS_WORDS["electrical"] and "cable" in user else 0.0 for c in candidates]

    class Vehicle:  # an embedder that sees a vehicle in everything
        def encode(self, texts: list[str]) -> np.ndarray:
            return np.array([[1.0, 0.0] for _ in texts])

    def answer(causes: list[str]) -> LLMResult[IncidentExtraction]:
        return LLMResult[IncidentExtraction](id="1", parsed=IncidentExtraction(
            hazard_category="other", severity=1, potential_severity=2, injury=True, causes=causes))

    sims = [_sims(vehicle=0.9), _sims(vehicle=0.9), _sims(vehicle=0.9)]
    texts = ["El electricista recibió una descarga al tocar un cable energizado en el tablero sin bloqueo.",
             "El electricista recibió una descarga al tocar un cable energizado en el tablero sin bloqueo.",
             "The electrician got a shock from a live cable in the panel that was not locked out."]
    causes = [["cable energizado sin bloqueo"], ["touched a live cable in the panel"], ["touched a live cable in the panel"]]
    out, notes = judge_results(Leaning(), texts, [answer(c) for c in causes], Vehicle(), similarities=sims)
    spanish, spanish_english_words, english = notes
    assert spanish is not None and spanish.language == "es" and spanish.similarities is None
    assert spanish.mechanism_similarities is None and out[0].parsed.hazard_category == "electrical"
    assert spanish_english_words is not None and spanish_english_words.mechanism_similarities is not None
    assert english is not None and english.language == "en" and english.similarities is not None
    assert out[2].parsed.hazard_category == "vehicle"  # English: both embedding opinions still count


def test_the_extraction_asks_for_english_mechanism_words_only_for_a_report_in_another_language() -> None:
    from floorwatch.llm.prompts import IN_ENGLISH, extraction_request

    spanish = extraction_request("1", "El soldador cayó desde el andamio a tres metros porque no tenía el arnés enganchado.")
    english = extraction_request("2", "The welder fell three metres from the scaffold; his harness was not clipped on.")
    assert spanish.messages[-1].content.endswith(IN_ENGLISH)
    assert IN_ENGLISH not in english.messages[-1].content and english.messages[-1].content.endswith("</report>")


@pytest.mark.parametrize(
    ("text", "english"),
    [("Worker fell", True), ("Gas leak", True), ("Conveyor jam", True), ("forklift; wet floor", True),
     ("Hand pinched.", True), ("[NAME] fell from a ladder at bay 2.", True),
     ("El soldador cayó desde el andamio.", False), ("Brûlure à la main.", False),
     ("andamio; no arnés enganchado", False), ("saco de 50 kg; levantar sozinho", False)],
)
def test_short_english_texts_stay_english(text: str, english: bool) -> None:
    """Unsure means English: two-word English reports and mechanisms had another language on top (a review found
    "Gas leak" read as Northern Sami), which would have changed their prompt and dropped their opinions."""
    from floorwatch.llm.language import is_english

    assert is_english(text) is english
