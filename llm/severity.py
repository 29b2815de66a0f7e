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


def no_injury_is_severity_1(result: LLMResult[IncidentExtraction]) -> LLMResult[IncidentExtraction]:
    """An answer that says nobody was injured (``injury: false``) has actual severity 1.

    The scale of the extraction prompt defines 1 as "no injury or first aid only", so ``injury: false`` with a
    higher actual severity contradicts itself (6 of the 285 development answers; the potential severity is what
    a near miss raises). It trusts the answer's own ``injury`` field, so an answer that also gets ``injury`` wrong
    (the demo's forklift near miss "No injury.": ``injury: true``, severity 4) is not changed. Applied to the
    generated answer before the judge, so a stated death (``llm.judge``) still sets 5.

    Args:
        result: one extraction result.

    Returns:
        The same result when an injury is stated or nothing was parsed, else a copy with ``severity`` 1 and its
        probed distribution all on 1 (a digit of 1 with weight on 2 would still score above "no injury").
    """
    parsed = result.parsed
    if parsed is None or parsed.injury:
        return result
    probes = result.probes | ({"severity": certain(1)} if "severity" in result.probes else {})
    return result.model_copy(update={"parsed": parsed.model_copy(update={"severity": 1}), "probes": probes})


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
    if not all(0.0 <= p < float("inf") for p in ps) or total <= 0.0:
        return None
    return min(5.0, max(1.0, sum(p * (k + 1) for k, p in enumerate(ps)) / total))  # rounding could pass 5


def incident_severity(inc: IncidentSummary) -> float:
    """Severity an incident is scored with: calibrated potential, else the probability-weighted potential,
    else the LLM's digit, else 3.

    Returns:
        A severity on the 1-5 scale (float: calibrated and expected values are continuous).
    """
    if inc.potential_severity_calibrated is not None:
        return float(inc.potential_severity_calibrated)
    if inc.potential_severity_expected is not None:
        return float(inc.potential_severity_expected)
    return float(UNKNOWN_POTENTIAL if inc.potential_severity is None else inc.potential_severity)
