"""Probability-weighted severity and the severity an incident is scored with (``floorwatch.llm.severity``): pure."""

from __future__ import annotations

import math

import pytest

from floorwatch.llm.severity import expected_potential, expected_severity, incident_severity
from floorwatch.schemas.evidence import IncidentSummary


@pytest.mark.parametrize(
    ("probs", "want"),
    [
        ([0, 0, 1, 0, 0], 3.0),
        ([0.5, 0, 0, 0, 0.5], 3.0),
        ([0, 0, 0.5, 0.5, 0], 3.5),
        ([0, 0, 2, 2, 0], 3.5),  # renormalised
        ([1, 0, 0, 0, 0], 1.0),
        (None, None),
        ([0.5, 0.5], None),  # not five digits
        ([0, 0, 0, 0, 0], None),
        ([0.5, -0.1, 0.6, 0, 0], None),
        ([math.nan, 0, 1, 0, 0], None),
        ([math.inf, 0, 1, 0, 0], None),
    ],
)
def test_expected_severity(probs: list[float] | None, want: float | None) -> None:
    assert expected_severity(probs) == (pytest.approx(want) if want is not None else None)


def test_a_near_certain_5_stays_on_the_scale() -> None:
    """Floating-point rounding gave 5.000000000000001 (> the schema's 5) for such a softmax output."""
    value = expected_severity([3.7e-20, 8.9e-24, 7.6e-18, 1.2e-16, 0.9999999999999998])
    assert value is not None and 4.99 < value <= 5.0


def _incident(**fields: object) -> IncidentSummary:
    return IncidentSummary(id=1, source="t", source_id="1", redacted_text="x", **fields)  # type: ignore[arg-type]


def test_scored_severity_prefers_calibrated_then_expected_then_digit() -> None:
    assert incident_severity(_incident(potential_severity=4, potential_severity_expected=3.4, potential_severity_calibrated=2.5)) == 2.5
    assert incident_severity(_incident(potential_severity=4, potential_severity_expected=3.4)) == pytest.approx(3.4)
    assert incident_severity(_incident(potential_severity=4)) == 4.0
    assert incident_severity(_incident(severity=5, potential_severity=4)) == 5.0  # the potential never below the actual
    assert incident_severity(_incident()) == 3.0


def _result(injury: bool, severity: int, probes: dict | None = None, body_part: str | None = None):  # noqa: ANN202
    from floorwatch.schemas.llm import IncidentExtraction, LLMResult

    parsed = IncidentExtraction(hazard_category="vehicle", severity=severity, potential_severity=4, injury=injury, body_part=body_part)
    return LLMResult[IncidentExtraction](id="r", parsed=parsed, probes=probes or {})


def test_no_injury_means_actual_severity_1() -> None:
    from floorwatch.llm.severity import no_injury_is_severity_1

    probes = {"severity": [0.1, 0.1, 0.2, 0.6, 0.0], "potential_severity": [0, 0, 0.5, 0.5, 0]}
    fixed = no_injury_is_severity_1(_result(False, 4, probes))
    assert (fixed.parsed.severity, fixed.parsed.potential_severity) == (1, 4)
    assert expected_severity(fixed.probes["severity"]) == 1.0 and fixed.probes["potential_severity"] == probes["potential_severity"]
    injured = _result(True, 4, probes)
    assert no_injury_is_severity_1(injured) is injured  # an injury keeps the model's severity
    already = no_injury_is_severity_1(_result(False, 1, {"severity": [0.6, 0.4, 0, 0, 0]}))
    assert already.parsed.severity == 1 and expected_severity(already.probes["severity"]) == 1.0
    failed = _result(False, 4).model_copy(update={"parsed": None})
    assert no_injury_is_severity_1(failed) is failed


@pytest.mark.parametrize("part", ["none", "None", "NONE.", "no injury", "nobody.", " none ", "Not injured", "nil"])
def test_no_injured_body_part_means_no_injury(part: str) -> None:
    """``injury: true`` beside ``body_part: "none"`` (a near miss): the body-part answer decides."""
    from floorwatch.llm.severity import no_injury_is_severity_1

    fixed = no_injury_is_severity_1(_result(True, 4, {"severity": [0, 0, 0, 1, 0]}, body_part=part))
    assert (fixed.parsed.severity, fixed.parsed.injury, fixed.parsed.potential_severity) == (1, False, 4)
    assert fixed.probes["severity"] == [1.0, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "part",
    [None, "", "left hand", "nose", "Nose", "no. 2 finger", "No. 3 finger", "none visible", "knee", "neck", "nail",
     # "not applicable" / "unknown": no single body part (fumes, shock, heat) or not known - not "nobody hurt"
     "n/a", "N/A", "NA", "N.A.", "not applicable", "unknown", "whole body"],
)
def test_a_named_or_unknown_body_part_keeps_the_injury(part: str | None) -> None:
    from floorwatch.llm.severity import no_injury_is_severity_1

    injured = _result(True, 4, {"severity": [0, 0, 0, 1, 0]}, body_part=part)
    assert no_injury_is_severity_1(injured) is injured


@pytest.mark.parametrize(
    ("actual", "potential", "want"),
    [
        ([0, 0, 1, 0, 0], [0, 0.5, 0, 0, 0.5], 4.0),  # a sure actual 3: potential 2 means 3 -> (3 + 5) / 2
        ([1, 0, 0, 0, 0], [0, 0.5, 0, 0, 0.5], 3.5),  # an actual 1 never binds: the potential's own mean
        ([0, 0, 0, 0, 1], [1, 0, 0, 0, 0], 5.0),  # a sure actual 5 makes the potential 5
        ([0.5, 0, 0, 0, 0.5], [0, 0, 1, 0, 0], 4.0),  # max(1, 3) or max(5, 3), half each
        ([0, 0, 2, 0, 0], [0, 1, 0, 0, 1], 4.0),  # unnormalised inputs are renormalised
        (None, [0, 0, 0.5, 0.5, 0], 3.5),  # no actual distribution: the potential's own mean
        ([0.5, 0.5], [0, 0, 0.5, 0.5, 0], 3.5),  # a malformed actual counts as absent
        ([0, 0, 1, 0, 0], None, None),
        ([0, 0, 1, 0, 0], [0, 0, 0, 0, 0], None),
    ],
)
def test_expected_potential_is_the_mean_of_the_larger(actual: list[float] | None, potential: list[float] | None, want: float | None) -> None:
    got = expected_potential(actual, potential)
    assert got == (pytest.approx(want) if want is not None else None)


def test_expected_potential_never_below_either_mean() -> None:
    a, p = [0.1, 0.2, 0.3, 0.3, 0.1], [0.3, 0.3, 0.2, 0.1, 0.1]
    got = expected_potential(a, p)
    assert got is not None and got >= max(expected_severity(a) or 0, expected_severity(p) or 0) and got <= 5.0


@pytest.mark.parametrize("part", ["n/a", "NA", "whole body"])
def test_injury_false_alone_still_means_no_injury(part: str) -> None:
    from floorwatch.llm.severity import no_injury_is_severity_1

    fixed = no_injury_is_severity_1(_result(False, 3, {"severity": [0, 0, 1, 0, 0]}, body_part=part))
    assert (fixed.parsed.severity, fixed.parsed.injury) == (1, False) and fixed.probes["severity"] == [1.0, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("part", ["floor", "face", "none"])
def test_a_no_injury_answer_names_no_injured_body_part(part: str) -> None:
    """A trial's no-injury answers named "floor" (a slag spill) and "face" ("Sin lesiones"): shown by the API as the
    injured part of a report that says nobody was hurt."""
    from floorwatch.llm.severity import no_injury_is_severity_1

    assert no_injury_is_severity_1(_result(False, 1, {}, body_part=part)).parsed.body_part is None
    assert no_injury_is_severity_1(_result(True, 2, {}, body_part="left hand")).parsed.body_part == "left hand"


def _brute_max(a: list[float], p: list[float]) -> float:
    ta, tp = sum(a), sum(p)
    return sum(a[i] / ta * p[j] / tp * max(i, j) for i in range(5) for j in range(5)) + 1.0


def test_expected_potential_matches_the_joint_sum() -> None:
    """``E[max(A, P)]`` from the CDF product equals the sum over all 25 (actual, potential) pairs."""
    import random

    rng = random.Random(0)
    for _ in range(200):
        a = [rng.choice([0.0, rng.random()]) for _ in range(5)]
        p = [rng.choice([0.0, rng.random()]) for _ in range(5)]
        if sum(a) == 0 or sum(p) == 0:
            continue
        got = expected_potential(a, p)
        assert got == pytest.approx(_brute_max(a, p), abs=1e-12)
        assert 1.0 <= got <= 5.0 and got >= max(expected_severity(a), expected_severity(p)) - 1e-12  # type: ignore[type-var]


BAD = [[math.nan, 0, 1, 0, 0], [math.inf, 0, 1, 0, 0], [0.5, -0.1, 0.6, 0, 0], [0, 0, 0, 0, 0], [0.2] * 6, [1e308] * 5]


@pytest.mark.parametrize("bad", BAD)
def test_a_malformed_actual_counts_as_absent_and_a_malformed_potential_gives_none(bad: list[float]) -> None:
    potential = [0, 0, 0.5, 0.5, 0]
    assert expected_potential(bad, potential) == pytest.approx(3.5)
    assert expected_potential([0, 0, 1, 0, 0], bad) is None
    assert expected_severity(bad) is None  # [1e308] * 5: the sum overflows, not a silent 1.0


def test_a_rule_set_distribution_decides_the_expected_potential() -> None:
    """The no-injury rule's certain(1) never raises the potential; the stated death's certain(5) makes it 5."""
    from floorwatch.llm.severity import certain

    potential = [0.1, 0.2, 0.3, 0.2, 0.2]
    assert expected_potential(certain(1), potential) == pytest.approx(expected_severity(potential))
    assert expected_potential(certain(5), certain(5)) == 5.0
    assert expected_potential(certain(5), potential) == 5.0


class _DeathScorer:
    """A token scorer whose every report states a death (P(Yes) ~ 1); uniform over the class words."""

    def first_token_logprobs(self, system: str, user: str, candidates: list[str]) -> list[float]:
        return [0.0, -30.0] if list(candidates) == ["Yes", "No"] else [0.0] * len(candidates)


@pytest.mark.parametrize("part", ["none", None])
def test_a_stated_death_wins_over_a_no_injury_answer(part: str | None) -> None:
    """extract.py applies the no-injury rule before the judge: a death stated in the report sets 5 / 5 and
    ``injury: true`` even where the answer said body part "none" (the rule must never run after the judge)."""
    from floorwatch.llm.judge import judge_results
    from floorwatch.llm.severity import no_injury_is_severity_1

    generated = _result(True, 4, {"severity": [0, 0, 0, 1, 0], "potential_severity": [0, 0, 0, 0.5, 0.5]}, body_part=part)
    [out], [note] = judge_results(_DeathScorer(), ["He fell from the roof and died."], [no_injury_is_severity_1(generated)])
    assert note is not None and (out.parsed.severity, out.parsed.potential_severity, out.parsed.injury) == (5, 5, True)
    assert expected_potential(out.probes["severity"], out.probes["potential_severity"]) == 5.0


def _row_of(res):  # noqa: ANN001, ANN202
    from types import SimpleNamespace

    from floorwatch.llm.extract import _row
    from floorwatch.schemas.llm import ChatMessage

    req = SimpleNamespace(messages=[ChatMessage(role="user", content="x")])
    return _row(SimpleNamespace(id=1, redacted_text="x"), req, res, "m", "v", 4000)  # type: ignore[arg-type]


def test_row_stores_the_expected_potential_of_the_larger() -> None:
    res = _result(True, 3, {"severity": [0, 0, 1, 0, 0], "potential_severity": [0, 0.5, 0, 0, 0.5]}, body_part="hand")
    row = _row_of(res)
    assert (row["severity_expected"], row["potential_severity_expected"]) == (3.0, pytest.approx(4.0))
    # the actual's distribution missing: its digit (3) is the floor, not the potential's own mean 3.5
    row = _row_of(res.model_copy(update={"probes": {"potential_severity": [0, 0.5, 0, 0, 0.5]}}))
    assert row["severity_expected"] is None and row["potential_severity_expected"] == pytest.approx(4.0)
    assert _row_of(res.model_copy(update={"probes": {}}))["potential_severity_expected"] is None


def test_a_death_stated_on_either_reading_counts() -> None:
    from floorwatch.llm.extract import died_on_either_reading
    from floorwatch.llm.judge import Judgement

    def j(died: float) -> Judgement:
        return Judgement(hazard_category="struck_by", hazard_probability=0.5, died=died)

    # report 0 read twice: whole 0.55 (an injected "the worker survived"), before the markup 0.97; report 1 once; 2 unjudged
    assert died_on_either_reading(3, [(0, "before")], [j(0.55), j(0.2), None, j(0.97)]) == [0.97, 0.2, 0.0]
