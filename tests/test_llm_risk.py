"""The computed risk score: formula terms, severity index, level bands, trend, top hazards, citation checks, storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from floorwatch.llm.risk import (
    check_citations,
    compute_zone,
    evidence_refs,
    incident_severity,
    level_of,
    score_breakdown,
    score_of,
    store_assessment,
    top_hazards,
    trend_of,
)
from floorwatch.schemas.evidence import (
    AlertSummary,
    AnomalySummary,
    IncidentSummary,
    OutageSummary,
    ZoneEvidence,
)
from floorwatch.schemas.tables import RiskAssessment, RiskEvidence
from floorwatch.storage.db import session_scope
from floorwatch.storage.registry import ensure_zones
from tests.llm_factories import sqlite_db

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def incident(i: int, hazard: str | None = "struck_by", pot: int | None = 3) -> IncidentSummary:
    extra: dict[str, Any] = {}
    if hazard:
        extra = {"extraction_model": "m", "hazard_category": hazard, "severity": 1, "potential_severity": pot}
    return IncidentSummary(id=i, source="s", source_id=str(i), occurred_at=T0, zone_id="z", redacted_text="t", **extra)


def alert(i: int, severity: str, review: str = "none") -> AlertSummary:
    return AlertSummary(
        id=f"a{i}", rule="person_down", severity=severity, zone_id="z", camera_id="c", status="closed",
        started_at=T0, last_seen_at=T0, review=review,
    )


def evidence(incidents=(), alerts=(), anomalies=0, outages=0) -> ZoneEvidence:  # type: ignore[no-untyped-def]
    return ZoneEvidence(
        zone_id="z", start=T0, end=T0 + timedelta(days=7),
        incidents=list(incidents), alerts=list(alerts),
        anomalies=[AnomalySummary(id=f"n{i}", zone_id="z", asset="pump", started_at=T0, ended_at=T0, score=1.0) for i in range(anomalies)],
        outages=[OutageSummary(id=f"o{i}", camera_id="c", started_at=T0) for i in range(outages)],
    )


@pytest.mark.parametrize(
    "ev, raw, items",
    [
        (evidence(), 0.0, 0),
        (evidence([incident(1, pot=1)]), 1.0, 1),
        (evidence([incident(1, pot=5)]), 16.0, 1),
        (evidence([incident(1, hazard=None, pot=None)]), 4.0, 1),  # not extracted yet = potential 3
        # low 2 -> 2 points, critical 5 -> 16; the dismissed alert is left out
        (evidence(alerts=[alert(1, "low"), alert(2, "critical"), alert(3, "high", review="dismissed")]), 18.0, 2),
        (evidence(anomalies=2, outages=3), 8.0, 2),  # outages are counted, not scored
        (evidence([incident(1, pot=4)], [alert(1, "medium")], 1, 1), 8 + 4 + 4, 3),
    ],
)
def test_score_terms(ev: ZoneEvidence, raw: float, items: int) -> None:
    b = score_breakdown(ev)
    assert (b.raw, b.items) == (pytest.approx(raw), items)
    assert b.mean_points == (pytest.approx((raw + 3 * 4.0) / (items + 3)) if items else 0.0)
    assert b.confidence == (pytest.approx(items / (items + 3)) if items else 0.0)


@pytest.mark.parametrize(
    "pots, score, level",
    [
        ([], 0.0, "low"),
        ([1] * 50, 5.7, "low"),  # the neutral pseudo-items lift a long run of minor reports a little
        ([2] * 9, 33.0, "low"),
        ([3], 50.0, "medium"),
        ([3] * 20, 50.0, "medium"),
        ([4], 58.0, "medium"),  # one serious report alone is pulled toward the neutral middle
        ([4] * 9, 70.2, "high"),
        ([5], 70.2, "high"),  # one potential-fatality note: high, never critical on its own
        ([5] * 9, 92.5, "critical"),
        ([5] * 10_000, 100.0, "critical"),
    ],
)
def test_severity_index_and_bands(pots: list[int], score: float, level: str) -> None:
    risk = compute_zone(evidence([incident(i, pot=p) for i, p in enumerate(pots)]), None)
    assert (risk.score, risk.level) == (score, level)
    assert level_of(score) == level


def test_calibrated_potential_is_preferred() -> None:
    plain = incident(1, pot=5)
    calibrated = plain.model_copy(update={"potential_severity_calibrated": 2.0})
    assert incident_severity(plain) == 5.0 and incident_severity(calibrated) == 2.0
    assert compute_zone(evidence([calibrated]), None).score < compute_zone(evidence([plain]), None).score


def test_frequency_is_reported_not_scored() -> None:
    few = evidence([incident(i, pot=4) for i in range(2)], outages=1)
    many = evidence([incident(i, pot=4) for i in range(40)])
    assert score_breakdown(few).rate == pytest.approx(3.0)
    month = many.model_copy(update={"end": T0 + timedelta(days=28)})
    assert score_breakdown(month).rate == pytest.approx(10.0)  # 40 items over 4 weeks
    # severity decides: many serious reports do not outrank a few fatal-potential ones
    assert compute_zone(evidence([incident(1, pot=5)] * 3), None).score > compute_zone(many, None).score
    # more of the same severity moves the score toward that severity, never past it
    scores = [compute_zone(evidence([incident(i, pot=4) for i in range(n)]), None).score for n in range(1, 60, 5)]
    assert scores == sorted(scores) and scores[-1] < 75.0


def test_a_single_note_does_not_outrank_much_serious_evidence() -> None:
    """Issue #12: one housekeeping note rated potential 5 put its zone above a dock with many serious items."""
    one_note = compute_zone(evidence([incident(1, pot=5)]), None)
    dock = compute_zone(evidence([incident(i, pot=4) for i in range(12)]), None)
    assert one_note.score < dock.score and one_note.level != "critical"
    assert one_note.breakdown.confidence == pytest.approx(0.25) and dock.breakdown.confidence == pytest.approx(0.8)
    # with three such notes the zone's own evidence decides again
    assert compute_zone(evidence([incident(i, pot=5) for i in range(3)]), None).score > dock.score


def test_a_stated_death_makes_the_level_critical_whatever_the_score() -> None:
    fatal = incident(7, pot=5).model_copy(update={"severity": 5, "stated_death": True})
    minor = [incident(i, pot=2) for i in range(1, 6)]
    risk = compute_zone(evidence([fatal, *minor]), None)
    assert risk.score < 62.5 and risk.level == "critical" and risk.breakdown.deaths == [7]
    # the JSON's digit 5 without a stated death (the 1.5B model's reading of a serious injury): the score's band
    serious = incident(8, pot=5).model_copy(update={"severity": 5})
    risk = compute_zone(evidence([serious, *minor]), None)
    assert risk.breakdown.deaths == [] and risk.level == level_of(risk.score) != "critical"


@pytest.mark.parametrize(
    ("raw", "stated"),
    [
        ({"stated_death": True}, True),
        ({"stated_death": False, "judge": {"died": 0.9}}, False),  # the flag as stored wins
        ({"judge": {"died": 0.4}}, False),  # stored before the flag: the judge's reading
        ({"judge": {"died": 0.93}}, True),
        ({}, False),  # no judge, no flag: the JSON's severity 5 alone is not a stated death
    ],
)
def test_a_row_states_a_death_by_its_flag_or_its_judges_reading(raw: dict, stated: bool) -> None:
    from floorwatch.storage.queries import stated_death

    assert stated_death(raw) is stated


def test_adding_a_low_severity_item_lowers_the_index_but_outages_do_not() -> None:
    base = evidence([incident(1, pot=4)])
    assert compute_zone(evidence([incident(1, pot=4)], [alert(1, "low")]), None).score < compute_zone(base, None).score
    assert compute_zone(evidence([incident(1, pot=4)], outages=5), None).score == compute_zone(base, None).score


@pytest.mark.parametrize(
    "current, previous, trend",
    [
        (evidence([incident(1, pot=5)]), evidence([incident(2, pot=1)]), "rising"),
        (evidence([incident(1, pot=1)]), evidence([incident(2, pot=5)]), "falling"),
        (evidence([incident(1, pot=3)]), evidence([incident(2, pot=3)]), "stable"),
        (evidence([incident(1, pot=3)]), evidence(), "new"),
        (evidence(), evidence(), "stable"),
    ],
)
def test_trend(current: ZoneEvidence, previous: ZoneEvidence, trend: str) -> None:
    score = score_of(score_breakdown(current))
    assert trend_of(score, previous)[0] == trend


def test_top_hazards_weighted_by_potential_severity() -> None:
    ev = evidence([incident(1, "slip_trip", 1), incident(2, "slip_trip", 1), incident(3, "slip_trip", 1), incident(4, "electrical", 5)])
    top = top_hazards(ev)
    assert [h.category for h in top] == ["electrical", "slip_trip"]
    assert (top[0].count, top[0].weight, top[1].count, top[1].weight) == (1, 16.0, 3, 3.0)


def test_unknown_citations_dropped_and_counted() -> None:
    refs = evidence_refs(evidence([incident(5)], [alert(1, "high")]))
    kept, dropped = check_citations(["incident:5", "[alert:a1]", "incident:6", "alert:a1", "zone:z", "outage:o1"], refs)
    assert [r.key for r in kept] == ["incident:5", "alert:a1"]
    assert dropped == 3


def test_store_assessment_is_idempotent_and_links_all_evidence(tmp_path: Path) -> None:
    factory = sqlite_db(tmp_path)
    ev = evidence(alerts=[alert(1, "high"), alert(2, "low")], anomalies=1)
    risk = compute_zone(ev, None).model_copy(update={"model": "m", "prompt_version": "v", "summary": "s"})
    cited = [r for r in risk.evidence if r.id == "a1"]
    with session_scope(factory) as s:
        ensure_zones(s, ["z"])
        store_assessment(s, risk.model_copy(update={"cited": cited}))
    with session_scope(factory) as s:  # second run: one fewer alert, nothing cited
        store_assessment(s, risk.model_copy(update={"evidence": risk.evidence[1:], "summary": "s2"}))
    with session_scope(factory) as s:
        rows = list(s.scalars(select(RiskAssessment)))
        links = {(e.kind, e.ref_id): e.cited for e in s.scalars(select(RiskEvidence))}
    assert len(rows) == 1 and rows[0].summary == "s2" and rows[0].level == risk.level
    assert links == {("alert", "a2"): False, ("anomaly", "n0"): False}
