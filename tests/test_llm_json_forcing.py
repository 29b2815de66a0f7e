"""Jump-forward text of a JSON schema (``floorwatch.llm.json_forcing``): pure, no model."""

from __future__ import annotations

import pytest

from floorwatch.llm.backends import json_schema_of
from floorwatch.llm.json_forcing import forced_continuation, json_complete
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
        (HEAD, ""),  # only optional keys or the end are left: the model chooses
        (HEAD + ',"', ""),  # five optional keys could follow
        (HEAD + ',"body', "_part"),  # a nullable string: the key's closing quote stays with the model (":" or ":null)
        (HEAD + ',"ca', "uses"),  # an array: the model writes ":[" or ":[]
        (HEAD + ',"body_part":"hand","eq', "uipment"),  # optional keys keep their order
        (HEAD + ',"equipment":"x","body', ""),  # body_part cannot follow equipment
        (HEAD + ',"causes":["a \\"quoted\\", b", "c"', ""),  # inside a nested array: nothing is forced
        (HEAD + ',"causes":["a"],"', ""),  # controls or zone may follow
        (HEAD + "}", ""),
        ("not json", ""),
    ],
)
def test_forced_continuation(text: str, forced: str) -> None:
    assert forced_continuation(SCHEMA, text) == forced


def test_forced_text_never_breaks_the_json() -> None:
    """Feeding the forced text whenever there is some, and a fixed choice otherwise, builds a valid answer."""
    choices = iter(["cut", "4", "5", "true", ',"body', '":"hand"', ',"ca', '":["edge"]', "}"])
    text = ""
    while not json_complete(text):
        text += forced_continuation(SCHEMA, text) or next(choices)
    parsed = IncidentExtraction.model_validate_json(text)
    assert (parsed.hazard_category, parsed.severity, parsed.potential_severity, parsed.body_part, parsed.causes) == (
        "cut_laceration", 4, 5, "hand", ["edge"])


def test_json_complete_only_for_a_closed_top_level_object() -> None:
    assert json_complete('{"a":{"b":[1,"}"]}}')
    assert not json_complete('{"a":{"b":[1,"}"]}')
    assert not json_complete('{"a":"}')
    assert not json_complete("")
