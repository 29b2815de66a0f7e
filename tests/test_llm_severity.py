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


@pytest.mark.parametrize("part", ["none", "None", "N/A", "no injury", "nobody.", " none "])
def test_no_injured_body_part_means_no_injury(part: str) -> None:
    """``injury: true`` beside ``body_part: "none"`` (a near miss): the body-part answer decides."""
    from floorwatch.llm.severity import no_injury_is_severity_1

    fixed = no_injury_is_severity_1(_result(True, 4, {"severity": [0, 0, 0, 1, 0]}, body_part=part))
    assert (fixed.parsed.severity, fixed.parsed.injury, fixed.parsed.potential_severity) == (1, False, 4)
    assert fixed.probes["severity"] == [1.0, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("part", [None, "left hand", "nose", "no. 2 finger"])
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
