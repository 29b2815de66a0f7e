"""Render the configuration reference (docs/CONFIGURATION.md) from the Settings model itself."""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from floorwatch.config import Settings

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "CONFIGURATION.md"


def _bounds(info: FieldInfo) -> str:
    out = []
    for meta in info.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "len >="),
                          ("max_length", "len <="), ("multiple_of", "multiple of"), ("pattern", "pattern")):
            value = getattr(meta, attr, None)
            if value is not None:
                out.append(f"{sym} {value}")
    return ", ".join(out)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(section)"
        return f"`{value!r}`" if not isinstance(value, list) or len(repr(value)) < 60 else "(list)"
    if info.default is PydanticUndefined:
        return "**required**"
    return f"`{info.default!r}`"


def _rows(model: type[BaseModel], prefix: str, seen: set[str]) -> list[str]:
    rows = []
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        ann = ann.replace(" | ", " or ").replace("floorwatch.config.", "")
        rows.append(f"| `{key}` | {ann} | {_default(info)} | {_bounds(info)} | {info.description or ''} |")
        for sub in _models_in(info.annotation):
            if sub.__name__ in seen:
                continue
            is_list = typing.get_origin(info.annotation) is list
            rows += _rows(sub, f"{key}[]." if is_list else f"{key}.", seen | {sub.__name__})
    return rows


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from `floorwatch/config.py` by `python -m floorwatch.config_doc` (a test checks it is current).",
        "Load order: YAML file (`--config` or `$FLOORWATCH_CONFIG`), then environment overrides",
        "`FLOORWATCH_<SECTION>__<KEY>` (e.g. `FLOORWATCH_DATABASE__URL`). Unknown keys are errors.",
        "Camera rules are a list discriminated by `type`; each rule type's fields are listed under its own rows.",
        "",
        "| key | type | default | bounds | description |",
        "|---|---|---|---|---|",
    ]
    lines += _rows(Settings, "", {"Settings"})
    return "\n".join(lines).replace("\\", "\\\\") + "\n"


if __name__ == "__main__":
    DOC_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC_PATH}", file=sys.stderr)
