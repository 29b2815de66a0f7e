"""The severity (1-5) an incident report is scored with; shared by the risk score and the fact sheet."""

from __future__ import annotations

from floorwatch.schemas.evidence import IncidentSummary

UNKNOWN_POTENTIAL = 3  # an incident without an extracted potential severity counts as "moderate"


def incident_severity(inc: IncidentSummary) -> float:
    """Severity an incident is scored with: calibrated potential, else the LLM's, else 3.

    Returns:
        A severity on the 1-5 scale (float: calibrated values are continuous).
    """
    if inc.potential_severity_calibrated is not None:
        return float(inc.potential_severity_calibrated)
    return float(UNKNOWN_POTENTIAL if inc.potential_severity is None else inc.potential_severity)
