"""``report.json`` (``RiskReport.public_json``): zones in the order of the Markdown/HTML report, with their rank."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from floorwatch.review.report_data import ZoneCard
from floorwatch.schemas.llm import EvidenceRef, Period, RiskReport, ScoreBreakdown, ZoneRisk

PERIOD = Period(start=datetime(2024, 1, 1, tzinfo=UTC), end=datetime(2024, 1, 31, tzinfo=UTC))


def _zone(zone_id: str, level: Any, score: float, *, evidence: bool = True, deaths: list[int] | None = None) -> ZoneRisk:
    return ZoneRisk(
        zone_id=zone_id, period=PERIOD, score=score, level=level, trend="stable",
        breakdown=ScoreBreakdown(deaths=deaths or []),
        evidence=[EvidenceRef(kind="incident", id=f"{zone_id}-1")] if evidence else [],
    )


def test_report_json_lists_zones_as_the_report_does_with_their_rank() -> None:
    zones = [  # alphabetical, as the risk job assesses them
        _zone("annex", "low", 10.0),
        _zone("assembly", "high", 80.0),
        _zone("boiler", "critical", 40.0, deaths=[3]),  # critical by a stated death, whatever its score
        _zone("canteen", "low", 0.0, evidence=False),  # not scored: listed last, unranked
        _zone("dock", "high", 80.0),  # ties with assembly: by id
        _zone("foundry", "critical", 90.0),
    ]
    report = RiskReport(period=PERIOD, backend="openai", model="m", generated_at=PERIOD.end, zones=zones)
    doc = report.public_json()
    listed = [(z["zone_id"], z["rank"], z["risk_level"]) for z in doc["zones"]]
    assert listed == [("foundry", 1, "critical"), ("boiler", 2, "critical"), ("assembly", 3, "high"),
                      ("dock", 4, "high"), ("annex", 5, "low"), ("canteen", None, None)]
    # the Markdown/HTML report's own order (review.report_data: one card per zone, sorted by ZoneCard.sort_key)
    cards = [ZoneCard(zone_id=z.zone_id, level=z.level if z.evidence else None,
                      score=z.score if z.evidence else None) for z in zones]
    assert [c.zone_id for c in sorted(cards, key=lambda c: c.sort_key)] == [z for z, _, _ in listed]
    assert [z.zone_id for z in report.zones] == sorted(z.zone_id for z in zones)  # the job's own list is left as it is
