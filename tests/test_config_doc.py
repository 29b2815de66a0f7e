"""The configuration reference in docs/ is generated from the model and must stay current."""

from floorwatch.config_doc import DOC_PATH, render


def test_configuration_reference_is_current() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/CONFIGURATION.md is stale: run `.venv/bin/python -m floorwatch.config_doc`"
    )


def test_reference_lists_every_rule_type() -> None:
    doc = render()
    for rule in ("restricted_zone_intrusion", "person_down", "missing_ppe", "dwell", "crowding", "hot_spot"):
        assert f"'{rule}'" in doc


def test_max_report_chars_is_documented_as_the_code_uses_it() -> None:
    """It was documented three ways (refused over 20000; cut at 8000 or lower; cut, not refused): ingest refuses a
    longer report, and the extraction reads at most min(llm.max_report_chars, EXTRACTION_MAX_CHARS) characters."""
    from floorwatch.config import EXTRACTION_MAX_CHARS, LLMConfig

    [row] = [ln for ln in render().splitlines() if ln.startswith("| `llm.max_report_chars` |")]
    assert "`20000`" in row and "refused at ingest" in row and f"{EXTRACTION_MAX_CHARS} if lower" in row and "cuts" in row
    assert LLMConfig().max_report_chars == 20_000
    readme = (DOC_PATH.parents[1] / "README.md").read_text(encoding="utf-8")
    assert f"({EXTRACTION_MAX_CHARS:,} characters, or `llm.max_report_chars` if lower) is cut" in readme
    assert "`llm.max_report_chars` itself (default 20,000 characters) is not stored" in readme
