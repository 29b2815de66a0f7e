"""Changing the configuration file from the dashboard: validated, backed up, atomic, recorded.

Every change (a zone drawn in the editor, a threshold suggestion applied from the fatigue page) goes
through :func:`apply_config_change`:

1. the YAML file is read and the change applied to its data;
2. the result is validated with the same loader as start-up (:func:`floorwatch.config.load_settings`,
   the pydantic model); a refused change leaves the file untouched and names the key and the reason;
3. the previous file is copied to ``<name>.<UTC stamp>.bak`` beside it;
4. the new text is written to a temporary file in the same folder, flushed to disk and moved over the
   old one with :func:`os.replace` (atomic on POSIX: a reader sees the old or the new file, never half);
5. who, what, when, the backup and the unified diff go into ``config_changes``.

The YAML is re-emitted by PyYAML, so comments of the file are not kept in the new version (they stay in
the backup). A running ``watch`` reads its configuration at start: restart it to use the change.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import ConfigError, Settings, load_settings
from floorwatch.schemas.tables import ConfigChange
from floorwatch.storage.db import session_scope

RESTART_NOTE = "restart `floorwatch watch` (and `replay` uses the file from its next run) to apply it"


class ConfigChangeError(ValueError):
    """The change was refused (invalid result, unreadable file); the file is unchanged."""


class AppliedChange(BaseModel):
    """What :func:`apply_config_change` did."""

    id: int
    path: str
    backup_path: str
    diff: str
    summary: str
    note: str = RESTART_NOTE


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigChangeError(f"cannot read the configuration {path}: {exc.strerror or exc}") from exc
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigChangeError(f"{path}: top level must be a mapping")
    return text, data


def validate_text(text: str, path: Path) -> Settings:
    """Validate YAML text with the start-up loader (written to a temporary file beside ``path``).

    Raises:
        ConfigChangeError: every problem as ``key path (line N): reason``.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check.yaml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return load_settings(tmp)
    except ConfigError as err:
        problems = [p.replace(tmp, path.name) for p in err.problems]
        raise ConfigChangeError("; ".join(problems)) from err
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a flushed temporary file and :func:`os.replace`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def apply_config_change(
    path: Path,
    change: Callable[[dict[str, Any]], str],
    sessions: sessionmaker[Session],
    actor: str,
    action: str,
) -> AppliedChange:
    """Apply ``change`` (mutates the YAML data, returns a one-line summary) to the file at ``path``.

    Raises:
        ConfigChangeError: unreadable file, ``change`` refused (ValueError/KeyError), or the result does not
            validate; nothing is written.
    """
    old_text, data = _read(path)
    try:
        summary = change(data)
    except (ValueError, KeyError) as exc:
        raise ConfigChangeError(str(exc).strip("'\"")) from exc
    new_text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=120)
    validate_text(new_text, path)
    diff = "".join(difflib.unified_diff(
        old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
        fromfile=f"{path.name} (before)", tofile=f"{path.name} (after)",
    ))  # fmt: skip
    now = datetime.now(UTC)
    backup = path.with_name(f"{path.name}.{now.strftime('%Y%m%dT%H%M%S.%fZ')}.bak")
    # The record is flushed first and committed after the file is replaced: a failed write leaves
    # neither a changed file nor a record of a change.
    with session_scope(sessions) as s:
        row = ConfigChange(applied_at=now, actor=actor[:200], action=action, summary=summary, path=str(path),
                           backup_path=str(backup), diff=diff)  # fmt: skip
        s.add(row)
        s.flush()
        change_id = row.id
        shutil.copy2(path, backup)
        atomic_write(path, new_text)
    return AppliedChange(id=change_id, path=str(path), backup_path=str(backup), diff=diff, summary=summary)


def set_rule_parameter(zone_id: str, rule: str, parameter: str, value: float) -> Callable[[dict[str, Any]], str]:
    """A change setting ``parameter`` of every ``rule`` rule of ``zone_id`` (on every camera) to ``value``.

    The change raises ValueError when no camera has such a rule in that zone.
    """

    def change(data: dict[str, Any]) -> str:
        old: list[Any] = []
        for cam in data.get("cameras") or []:
            for cz in cam.get("zones") or []:
                if cz.get("zone_id") != zone_id:
                    continue
                for r in cz.get("rules") or []:
                    if r.get("type") == rule:
                        old.append(r.get(parameter, "default"))
                        r[parameter] = int(value) if parameter == "max_people" else value
        if not old:
            raise ValueError(f"no camera has a {rule} rule in zone {zone_id!r}: nothing to change")
        was = ", ".join(sorted({str(v) for v in old}))
        return f"{zone_id} / {rule}: {parameter} {was} -> {value:g} ({len(old)} rule(s))"

    return change
