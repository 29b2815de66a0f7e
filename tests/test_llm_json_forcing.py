"""Jump-forward text of a JSON schema (``floorwatch.llm.json_forcing``): pure, no model."""

from __future__ import annotations

import math

import pytest

from floorwatch.llm.backends import json_schema_of
from floorwatch.llm.json_forcing import forced_continuation, json_complete, probes_from_steps
from floorwatch.schemas.llm import IncidentExtraction

SCHEMA = json_schema_of(IncidentExtraction)
HEAD = '{"hazard_category":"cut_laceration","severity":4,"potential_severity":5,"injury":true'


@pytest.mark.parametrize(
    ("text", "forced"),
    [
        ("", '{"hazard_category":"'),  # the first required key and the quote of its string value
        ('{"hazard_category":"fall', '_from_height","severity":'),  # unique enum prefix, then the next required key
        ('{"hazard_category":"c', ""),  # caught / chemical / cut: the model chooses
        ('{"hazard_category":"cut_laceration","severity":4', ',"potential_severity":'),  # a 1-5 integer is one digit
        ('{"hazard_category":"cut_laceration","severity":4,"potential_severity":5,"injury":', ""),  # the value is the model's
        (HEAD, ',"body_part'),  # a nullable string: the key's closing quote stays with the model (":" or ":null)
        (HEAD + ',"body_part":"hand"', ',"equipment'),
        (HEAD + ',"body_part":null,"equipment":null', ',"causes'),  # an array: the model writes ":[" or ":[]
        (HEAD + ',"body_part":null,"equipment":null,"causes":["a \\"quoted\\", b", "c"', ""),  # inside a nested array: nothing is forced
        (HEAD + ',"body_part":null,"equipment":null,"causes":["a"]', ""),  # controls, zone or the end: the model chooses
        (HEAD + ',"body_part":null,"equipment":null,"causes":["a"],"', ""),  # controls or zone
        (HEAD + ',"body_part":null,"equipment":null,"causes":["a"],"z', "one"),
        ("not json", ""),
    ],
)
def test_forced_continuation(text: str, forced: str) -> None:
    assert forced_continuation(SCHEMA, text) == forced


OPTIONAL = {
    "type": "object",
    "properties": {"a": {"type": "integer", "minimum": 1, "maximum": 5}, "bb": {"type": "boolean"}, "bc": {"type": "string"}},
    "required": ["a"],
}


@pytest.mark.parametrize(
    ("text", "forced"),
    [
        ('{"a":3', ""),  # optional keys or the end
        ('{"a":3,"', ""),  # bb or bc
        ('{"a":3,"bc', '":"'),  # unique: the key's end and the quote of a plain string
        ('{"a":3,"bb', '":'),
        ('{"a":3,"bc":"x","bb', ""),  # bb cannot follow bc (optional keys keep schema order)
    ],
)
def test_optional_keys_are_forced_only_once_unique(text: str, forced: str) -> None:
    assert forced_continuation(OPTIONAL, text) == forced


def test_forced_text_never_breaks_the_json() -> None:
    """Feeding the forced text whenever there is some, and a fixed choice otherwise, builds a valid answer."""
    choices = iter(["cut", "4", "5", "true", '":"hand"', '":null', '":["edge"]', "}"])
    text = ""
    while not json_complete(text):
        text += forced_continuation(SCHEMA, text) or next(choices)
    parsed = IncidentExtraction.model_validate_json(text)
    assert (parsed.hazard_category, parsed.severity, parsed.potential_severity, parsed.body_part, parsed.equipment, parsed.causes) == (
        "cut_laceration", 4, 5, "hand", None, ["edge"])


def test_json_complete_only_for_a_closed_top_level_object() -> None:
    assert json_complete('{"a":{"b":[1,"}"]}}')
    assert not json_complete('{"a":{"b":[1,"}"]}')
    assert not json_complete('{"a":"}')
    assert not json_complete("")


DIGITS = ("1", "2", "3", "4", "5")


def _steps(*tokens: tuple[str, dict[str, float]]) -> list[tuple[str, dict[str, float]]]:
    return list(tokens)


def test_probes_read_the_distribution_where_the_value_starts() -> None:
    steps = _steps(
        ('{"', {}), ("severity", {}), ('":', {}),
        (" ", {" ": -0.01}),  # whitespace before the value: not the value's first token
        (" 3", {" 3": math.log(0.5), "4": math.log(0.25), " 2": math.log(0.25), "x": -0.1}),
        (',"potential_severity":', {}), ("5", {"5": 0.0}), ("}", {}),
    )
    out = probes_from_steps(steps, {"severity": DIGITS, "potential_severity": DIGITS, "zone": ("a",)})
    assert out["severity"] == pytest.approx([0.0, 0.25, 0.5, 0.25, 0.0])  # "x" is no candidate: renormalised
    assert out["potential_severity"] == pytest.approx([0, 0, 0, 0, 1])
    assert "zone" not in out  # never reached


def test_probes_leave_out_a_key_whose_alternatives_name_no_candidate() -> None:
    both = _steps(('{"severity":', {}), ("3", {"3": math.log(0.3), " 3": math.log(0.3), "4": math.log(0.4)}))
    assert probes_from_steps(both, {"severity": DIGITS})["severity"] == pytest.approx([0, 0, 0.6, 0.4, 0])  # "3" and " 3" add up
    steps = _steps(('{"severity":', {}), ("3", {"three": -0.1}), ("}", {}))
    assert probes_from_steps(steps, {"severity": DIGITS}) == {}
    assert probes_from_steps([], {"severity": DIGITS}) == {}
