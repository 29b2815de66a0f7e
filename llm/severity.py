"""The severity (1-5) an incident report is scored with; shared by the risk score and the fact sheet.

Probability-weighted severity: where the JSON answer's ``severity`` / ``potential_severity`` value starts,
the backend returns the model's next-token distribution over the digits ``1``-``5``
(``LLMRequest.probes``; llama.cpp logits or an OpenAI-compatible server's ``top_logprobs``); the expected
value ``sum(p_k * k)`` keeps what the greedy digit throws away (a model torn between 3 and 5 is not a
sure 5). The "G-Eval" scoring rule (Liu et al. 2023, "G-Eval: NLG Evaluation using GPT-4 with Better Human
Alignment", EMNLP, section 2.3). On the 285 development reports, Spearman with the labelled potential
level: greedy digit 0.245, expected value 0.318 (benchmarks/RESULTS.md, issue 12).
"""

from __future__ import annotations

from collections.abc import Sequence

from floorwatch.schemas.evidence import IncidentSummary

UNKNOWN_POTENTIAL = 3  # an incident without an extracted potential severity counts as "moderate"
SEVERITY_DIGITS = ("1", "2", "3", "4", "5")  # candidate answers of a severity value (schemas.llm scale)
SEVERITY_PROBES = {"severity": SEVERITY_DIGITS, "potential_severity": SEVERITY_DIGITS}


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
    return sum(p * (k + 1) for k, p in enumerate(ps)) / total


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
