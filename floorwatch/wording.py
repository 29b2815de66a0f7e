"""Counted nouns in what a reader is shown: "1 alert", "3 alerts", "2 machine anomalies".

One helper for the fact sheets (``llm.facts``), the CLI's warnings and the report templates (the Jinja filter
``plural`` of ``review.report``), so the same count reads the same everywhere. English only, like the report.
"""

from __future__ import annotations


def count_noun(n: int, word: str, plural: str | None = None) -> str:
    """``"<n> <word>"`` with ``word`` pluralised when ``n != 1``: ``plural`` when given, else ``word + "s"``.

    >>> count_noun(1, "alert"), count_noun(0, "alert"), count_noun(2, "machine anomaly", "machine anomalies")
    ('1 alert', '0 alerts', '2 machine anomalies')
    """
    return f"{n} {word if n == 1 else (plural or word + 's')}"
