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
