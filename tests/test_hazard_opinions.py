"""Disagreeing hazard-class opinions travel from the extraction row to the report's evidence list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from floorwatch.review.report_data import evidence_items, hazard_label
from floorwatch.schemas.evidence import IncidentSummary
from floorwatch.schemas.tables import IncidentExtraction
from floorwatch.storage.db import session_scope
from floorwatch.storage.queries import other_opinions, zone_evidence
from tests.llm_factories import add_incidents, sqlite_db


@pytest.mark.parametrize(
    ("stored", "judge", "want"),
    [
        ("pressure_release", {"hazard_category": "pressure_release", "second_opinion": "slip_trip"}, ["slip_trip"]),
        ("slip_trip", {"hazard_category": "pressure_release", "second_opinion": "pressure_release"}, ["pressure_release"]),
        ("vehicle", {"hazard_category": "struck_by", "second_opinion": "fall_from_height"}, ["struck_by", "fall_from_height"]),
        ("vehicle", {"hazard_category": "vehicle", "second_opinion": "vehicle"}, []),
        ("vehicle", {"hazard_category": "vehicle", "second_opinion": None}, []),
        ("vehicle", None, []),
        ("vehicle", "not a dict", []),
        # the mechanism's class is a third opinion
        ("vehicle", {"hazard_category": "vehicle", "second_opinion": "vehicle", "mechanism_opinion": "struck_by"}, ["struck_by"]),
        ("struck_by", {"hazard_category": "vehicle", "second_opinion": "vehicle", "mechanism_opinion": "struck_by"}, ["vehicle"]),
        ("vehicle", {"hazard_category": "vehicle", "mechanism_opinion": 3}, []),  # not a class name: none
    ],
)
def test_other_opinions(stored: str, judge: object, want: list[str]) -> None:
    assert other_opinions(stored, judge) == want


def test_the_report_names_the_other_opinion(tmp_path: Path) -> None:
    factory = sqlite_db(tmp_path)
    [agreed, torn] = add_incidents(factory, [("a", "press", "Hand caught in rollers."), ("b", "press", "Oil leak; a fitter slipped.")])
    with session_scope(factory) as s:
        for iid, cls, judge in (
            (agreed, "caught_in_machinery", {"hazard_category": "caught_in_machinery", "second_opinion": "caught_in_machinery"}),
            (torn, "pressure_release", {"hazard_category": "pressure_release", "second_opinion": "slip_trip"}),
        ):
            s.add(IncidentExtraction(
                incident_id=iid, prompt_version="v", model="m", input_hash="h", status="ok", hazard_category=cls,
                severity=1, potential_severity=3, injury=False, raw={"judge": judge},
            ))
    with session_scope(factory) as s:
        ev = zone_evidence(s, "press", datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 31, tzinfo=UTC))
    by_id = {i.id: i for i in ev.incidents}
    assert by_id[agreed].hazard_other_opinions == [] and by_id[torn].hazard_other_opinions == ["slip_trip"]
    items, _ = evidence_items(ev, set(), tmp_path, tmp_path, None)
    titles = {i.ref_id: i.title for i in items}
    assert titles[str(torn)].endswith(" - pressure release (other opinion: slip trip)")
    assert titles[str(agreed)].endswith(" - caught in machinery")


def test_label_without_opinions() -> None:
    inc = IncidentSummary(id=1, source="t", source_id="1", redacted_text="x", hazard_category="electrical")
    assert hazard_label(inc) == "electrical"


def test_hazard_weights_are_shown_to_one_decimal() -> None:
    """A top hazard's weight is a sum of probability-weighted points: 11.5708 reads as 11.6 in a report."""
    from floorwatch.review.report_data import as_text
    from floorwatch.schemas.llm import HazardCount

    assert as_text(HazardCount(category="pressure_release", count=1, weight=8.98861)) == "pressure release (count 1, weight 9)"
    assert as_text({"category": "vehicle", "count": 2, "weight": 11.5708}) == "vehicle (count 2, weight 11.6)"
    assert as_text({"category": "cut_laceration", "count": 1, "weight": 4}) == "cut laceration (count 1, weight 4)"
