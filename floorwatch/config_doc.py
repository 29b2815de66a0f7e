"""Render the configuration reference (docs/CONFIGURATION.md) and the commented starter file of
``floorwatch config init`` (``starter_yaml``) from the Settings model itself: its defaults and descriptions."""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from floorwatch.config import (
    CameraConfig,
    CameraZoneConfig,
    DatabaseConfig,
    LLMConfig,
    PersonDownRule,
    Settings,
    SiteConfig,
    ZoneConfig,
)

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


# --------------------------------------------------------------------------- starter file (config init)
STARTER_HEADER = """\
# Floorwatch configuration, a starter written by `floorwatch config init`: edit it, then check it with
# `floorwatch config check {path}`. A key left out keeps its default (every key: docs/CONFIGURATION.md);
# FLOORWATCH_<SECTION>__<KEY> environment variables override the file, e.g. FLOORWATCH_DATABASE__URL.
"""


def _with_defaults(model: type[BaseModel], *keys: str, **values: Any) -> Any:
    """``model`` with ``keys`` set to their defaults and ``values`` as given: the fields the starter file shows."""
    defaults = {k: model.model_fields[k].get_default(call_default_factory=True) for k in keys}
    return model(**defaults, **values)


def starter_settings() -> Settings:
    """The settings of the starter file: the site, one example zone watched by one camera with one rule, and the
    database and LLM defaults. Only the fields set here are written (``starter_yaml``)."""
    zone = ZoneConfig(id="assembly", name="Assembly hall", description="Final assembly; forklifts bring parts in.")
    rule = _with_defaults(PersonDownRule, "type", "min_seconds")
    camera = CameraConfig(
        id="assembly-cam", name="Assembly hall camera", source="rtsp://user:CHANGE_ME@192.168.1.10:554/stream1",
        zones=[CameraZoneConfig(zone_id=zone.id, polygon=[(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)], rules=[rule])],
    )
    return Settings(
        site=_with_defaults(SiteConfig, "name", "timezone"),
        zones=[zone],
        cameras=[camera],
        database=_with_defaults(DatabaseConfig, "url"),
        llm=_with_defaults(LLMConfig, "backend", "model", "base_url", "api_key_env", "n_threads"),
    )


def _comment(info: FieldInfo) -> str:
    """A field's description, with its choices (a ``Literal``) or, for a list of rule types, the types."""
    text = info.description or ""
    if typing.get_origin(info.annotation) is Literal and len(typing.get_args(info.annotation)) > 1:
        text += f" (one of: {', '.join(map(str, typing.get_args(info.annotation)))})"
    kinds = [m.model_fields["type"].default for m in _models_in(info.annotation) if "type" in m.model_fields]
    if len(kinds) > 1:
        text += f"; type: one of {', '.join(kinds)}"
    return text.strip()


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1_000_000).rstrip("\n").removesuffix("\n...")


def _yaml_lines(model: BaseModel, indent: int) -> list[str]:
    """The set fields of ``model`` as block YAML, each after a comment line with its description."""
    pad = " " * indent
    data = model.model_dump(mode="json")
    lines: list[str] = []
    for name, info in type(model).model_fields.items():
        if name not in model.model_fields_set:
            continue
        value = getattr(model, name)
        if comment := _comment(info):
            lines.append(f"{pad}# {comment}")
        if isinstance(value, BaseModel):
            lines += [f"{pad}{name}:", *_yaml_lines(value, indent + 2)]
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            lines.append(f"{pad}{name}:")
            for item in value:
                sub = _yaml_lines(item, indent + 4)
                first = next(i for i, line in enumerate(sub) if not line.lstrip().startswith("#"))
                dash = " " * (indent + 2)
                sub[: first + 1] = [dash + line.lstrip() for line in sub[:first]] + [f"{dash}- {sub[first].lstrip()}"]
                lines += sub
        else:
            lines.append(f"{pad}{name}: {_scalar(data[name])}")
    return lines


def starter_yaml(path: str = "FILE") -> str:
    """The commented starter configuration (``floorwatch config init``): ``starter_settings`` as YAML, each key
    after its description from the model; ``path`` is named in the header's check command."""
    settings = starter_settings()
    body: list[str] = []
    for line in _yaml_lines(settings, 0):
        if not line.startswith((" ", "#")) and body:  # a blank line between top-level sections
            start = len(body)
            while start and body[start - 1].startswith("#"):
                start -= 1
            if start:
                body.insert(start, "")
        body.append(line)
    return STARTER_HEADER.format(path=path) + "\n" + "\n".join(body) + "\n"


if __name__ == "__main__":
    DOC_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC_PATH}", file=sys.stderr)
