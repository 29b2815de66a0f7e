"""The severity (1-5) an incident report is scored with; shared by the risk score and the fact sheet.

Probability-weighted severity: where the JSON answer's ``severity`` / ``potential_severity`` value starts,
the backend returns the model's next-token distribution over the digits ``1``-``5``
(``LLMRequest.probes``; llama.cpp logits, an OpenAI-compatible server's ``top_logprobs``, vLLM's
``logprobs``; a backend or server without them leaves the value unknown, and a reply cached without them
stays so until its cache row is removed); the expected
value ``sum(p_k * k)`` keeps what the greedy digit throws away (a model torn between 3 and 5 is not a
sure 5). The "G-Eval" scoring rule (Liu et al. 2023, "G-Eval: NLG Evaluation using GPT-4 with Better Human
Alignment", EMNLP, section 2.3). On the 285 development reports, Spearman with the labelled potential
level: greedy digit 0.245, expected value 0.318 (extract-v8); 0.251 / 0.306 (extract-v9; benchmarks/RESULTS.md,
issue 12).

The potential severity is "the worst realistic outcome ... never below severity" (the prompt's scale), so its
expected value is that of ``max(actual, potential)`` over the two distributions (:func:`expected_potential`),
not of the potential digit alone: a model sure of an actual 3 and torn between 2 and 5 for the potential
cannot mean an expected potential below 3. On the same 285 reports (extract-v9 run, recomputed from its
stored distributions): 0.352 instead of 0.306; re-run end to end 0.349 (benchmarks/RESULTS.md, issue 12, seventh session).
"""

from __future__ import annotations

from collections.abc import Sequence

from floorwatch.schemas.evidence import IncidentSummary
from floorwatch.schemas.llm import IncidentExtraction, LLMResult

UNKNOWN_POTENTIAL = 3  # an incident without an extracted potential severity counts as "moderate"
SEVERITY_DIGITS = ("1", "2", "3", "4", "5")  # candidate answers of a severity value (schemas.llm scale)
SEVERITY_PROBES = {"severity": SEVERITY_DIGITS, "potential_severity": SEVERITY_DIGITS}


def certain(severity: int) -> list[float]:
    """The digits' distribution of a severity set by a rule (all mass on ``severity``, 1-5)."""
    return [1.0 if d == str(severity) else 0.0 for d in SEVERITY_DIGITS]


# What an answer's ``body_part`` holds when it says no body part was injured (lower case, no final full stop).
# Only explicit negations: "n/a" / "na" / "not applicable" are left out, since they also mean "no single body
# part" (inhalation, electric shock, heat stress: an injury without one part) or "unknown" (the prompt asks
# for null there); a real injury must not be turned into "no injury".
NO_BODY_PART = frozenset({"none", "no", "nobody", "no one", "no-one", "no injury", "not injured", "nil"})


def states_no_injury(parsed: IncidentExtraction) -> bool:
    """Whether the answer itself says nobody was hurt: ``injury: false``, or no injured body part named
    (``body_part`` "none", "nobody", ...; :data:`NO_BODY_PART`). A null ``body_part`` is "unknown" (the prompt's
    rule for unknown fields), not "none", and "n/a" may mean "no single part", so neither counts."""
    part = (parsed.body_part or "").strip().lower().rstrip(".")
    return not parsed.injury or part in NO_BODY_PART


def no_injury_is_severity_1(result: LLMResult[IncidentExtraction]) -> LLMResult[IncidentExtraction]:
    """An answer that says nobody was injured has actual severity 1 and ``injury: false``.

    The scale of the extraction prompt defines 1 as "no injury or first aid only", so an answer that says
    nobody was hurt (:func:`states_no_injury`) with a higher actual severity contradicts itself; the potential
    severity is what a near miss raises. The small model often writes ``injury: true`` beside
    ``body_part: "none"`` for a near miss (the demo's forklift reversing "No injury." and the oil-leak slip
    "kept his balance": severity 4 and 3); its own body-part answer is the more specific one, so it decides.
    On the 285 development answers: 6 with ``injury: false``, 2 more with body part "none" (both labelled
    accident level I, the file's lowest). Applied to the generated answer before the judge, so a stated
    death (``llm.judge``) still sets 5 (and ``injury: true``).

    Args:
        result: one extraction result.

    Returns:
        The same result when an injury is stated or nothing was parsed, else a copy with ``severity`` 1 and its
        probed distribution all on 1 (a digit of 1 with weight on 2 would still score above "no injury"), and no
        injured body part (``body_part`` None: a trial's no-injury answers named "floor" and "face").
    """
    parsed = result.parsed
    if parsed is None or not states_no_injury(parsed):
        return result
    probes = result.probes | ({"severity": certain(1)} if "severity" in result.probes else {})
    fixed = parsed.model_copy(update={"severity": 1, "injury": False, "body_part": None})
    return result.model_copy(update={"parsed": fixed, "probes": probes})


def expected_severity(probabilities: Sequence[float] | None) -> float | None:
    """``sum(p_k * k)`` over the digits 1-5.

    Args:
        probabilities: five probabilities of the answers ``1``..``5`` (renormalised here), or None.

    Returns:
        The expected severity (1.0-5.0), or None when there is no distribution (None, wrong length,
        all zero or any negative or non-finite value).
    """
    if probabilities is None or len(probabilities) != len(SEVERITY_DIGITS):
        return None
    ps = [float(p) for p in probabilities]
    total = sum(ps)
    if not all(0.0 <= p < float("inf") for p in ps) or not 0.0 < total < float("inf"):  # a sum that overflows: NaN below
        return None
    return min(5.0, max(1.0, sum(p * (k + 1) for k, p in enumerate(ps)) / total))  # rounding could pass 5


def expected_potential(actual: Sequence[float] | None, potential: Sequence[float] | None) -> float | None:
    """Expected potential severity ``E[max(A, P)]``, A and P drawn from the actual and potential digits' distributions.

    The potential is never below the actual (the prompt's scale), so the distribution of the potential is that of
    the larger of the two: ``P(max <= k) = F_A(k) * F_P(k)``. This treats the two distributions as independent,
    an approximation: the potential digit is generated after the greedy actual digit, so its distribution is
    conditioned on that one digit, not on the actual's whole distribution.

    Args:
        actual: five probabilities of the actual severity's digits ``1``..``5``, or None (then the potential's own
            expected value, :func:`expected_severity`).
        potential: five probabilities of the potential severity's digits, or None.

    Returns:
        1.0-5.0, or None when ``potential`` is no distribution (an ``actual`` that is none counts as absent).
    """
    if expected_severity(potential) is None or potential is None:
        return None
    if actual is None or expected_severity(actual) is None:
        return expected_severity(potential)
    cdf_max = [a * p for a, p in zip(_cdf(actual), _cdf(potential), strict=True)]
    mass = [hi - lo for lo, hi in zip([0.0, *cdf_max[:-1]], cdf_max, strict=True)]
    return expected_severity(mass)


def _cdf(probabilities: Sequence[float]) -> list[float]:
    total = sum(float(p) for p in probabilities)
    out, acc = [], 0.0
    for p in probabilities:
        acc += float(p) / total
        out.append(acc)
    return out


def incident_severity(inc: IncidentSummary) -> float:
    """Severity an incident is scored with: calibrated potential, else the probability-weighted potential,
    else the LLM's potential digit (or its actual digit, when that is higher), else 3.

    Returns:
        A severity on the 1-5 scale (float: calibrated and expected values are continuous).
    """
    if inc.potential_severity_calibrated is not None:
        return float(inc.potential_severity_calibrated)
    if inc.potential_severity_expected is not None:
        return float(inc.potential_severity_expected)
    if inc.potential_severity is None:
        return float(UNKNOWN_POTENTIAL)
    return float(max(inc.potential_severity, inc.severity or 1))  # never below the actual, as the expected value
