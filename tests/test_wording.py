"""Counted nouns read the same in the fact sheets, the CLI and the report (floorwatch.wording)."""

from __future__ import annotations

import pytest

from floorwatch.wording import count_noun


@pytest.mark.parametrize(
    "n, word, plural, expected",
    [(1, "alert", None, "1 alert"), (0, "alert", None, "0 alerts"), (3, "report", None, "3 reports"),
     (1, "machine anomaly", "machine anomalies", "1 machine anomaly"), (2, "machine anomaly", "machine anomalies", "2 machine anomalies")],
)
def test_count_noun(n: int, word: str, plural: str | None, expected: str) -> None:
    assert count_noun(n, word, plural) == expected


def test_the_report_template_filter_is_the_same_helper() -> None:
    from floorwatch.review.report import _env

    assert _env().filters["plural"] is count_noun
