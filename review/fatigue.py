"""Alert fatigue: which rules operators keep dismissing, and what threshold change would quiet them."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from floorwatch.config import Settings
from floorwatch.schemas.evidence import DismissalRate

# Rule type -> (parameter to raise, how to raise it). min_seconds-style rules get double the wait.
_PARAMETERS: dict[str, str] = {
    "restricted_zone_intrusion": "min_seconds",
    "person_down": "min_seconds",
    "missing_ppe": "min_seconds",
    "crowding": "max_people",
    "hot_spot": "min_seconds",
    "dwell": "max_seconds",
}
_DEFAULTS: dict[str, float] = {
    "restricted_zone_intrusion": 0.5,
    "person_down": 2.0,
    "missing_ppe": 2.0,
    "crowding": 5,
    "hot_spot": 2.0,
    "dwell": 60.0,
}


class ThresholdSuggestion(BaseModel):
    """A proposed config change for a noisy (zone, rule)."""

    model_config = ConfigDict(frozen=True)

    zone_id: str
    rule: str
    total: int = Field(description="Alerts of this rule in the zone over the period")
    dismissed: int = Field(description="Of which dismissed as false positives")
    rate: float = Field(description="dismissed / total")
    parameter: str | None = Field(description="Rule parameter to change; None when the rule type is unknown")
    current: float | None = Field(
        description="Its value in the config (the rule default when not configured)"
    )
    suggested: float | None = Field(description="Proposed value")
    reason: str


def _current_value(settings: Settings | None, zone_id: str, rule: str, parameter: str) -> float:
    values = []
    for cam in settings.cameras if settings else []:
        for cz in cam.zones:
            if cz.zone_id != zone_id:
                continue
            values += [
                float(getattr(r, parameter)) for r in cz.rules if r.type == rule and hasattr(r, parameter)
            ]
    return max(values) if values else float(_DEFAULTS[rule])


def _raise(parameter: str, current: float) -> float:
    if parameter == "max_people":
        return float(int(current) + max(1, round(current * 0.2)))
    if parameter == "max_seconds":
        return round(current * 1.5, 1)
    return round(max(current * 2, current + 1.0), 1)


def suggest_threshold_changes(
    rates: Sequence[DismissalRate],
    settings: Settings | None = None,
    min_rate: float = 0.5,
    min_alerts: int = 5,
) -> list[ThresholdSuggestion]:
    """Suggest raising the threshold of every (zone, rule) whose alerts are mostly dismissed.

    Args:
        rates: dismissal counts per (zone, rule), e.g. from ``storage.queries.dismissal_rates``.
        settings: the configuration, to read the rule's current threshold (defaults when absent).
        min_rate: suggest when more than this share of the alerts was dismissed.
        min_alerts: ignore (zone, rule) pairs with fewer alerts than this (too little evidence).

    Returns:
        Suggestions, noisiest first.
    """
    if not 0 <= min_rate < 1:
        raise ValueError(f"min_rate must be within [0, 1), got {min_rate}")
    out = []
    for r in rates:
        if r.total < min_alerts or r.rate <= min_rate:
            continue
        parameter = _PARAMETERS.get(r.rule)
        pct = f"{r.dismissed} of {r.total} ({r.rate:.0%})"
        current = suggested = None
        reason = f"{pct} alerts dismissed; review the rule's configuration"
        if parameter is not None:
            current = _current_value(settings, r.zone_id, r.rule, parameter)
            suggested = _raise(parameter, current)
            reason = f"{pct} alerts dismissed as false positives: raise {parameter} from {current:g} to {suggested:g}"
        out.append(
            ThresholdSuggestion(
                zone_id=r.zone_id,
                rule=r.rule,
                total=r.total,
                dismissed=r.dismissed,
                rate=r.rate,
                parameter=parameter,
                current=current,
                suggested=suggested,
                reason=reason,
            )
        )
    return sorted(out, key=lambda s: (-s.rate, -s.total, s.zone_id, s.rule))
