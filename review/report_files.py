"""Write a risk job's result to disk: the JSON documents and the rendered report (HTML + Markdown).

The report renders what the job computed (``RiskReport.facts``: evidence, time patterns and machine signals
per assessed zone); only figures and zones the job did not assess are read from the database.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import Settings
from floorwatch.review.report import render_report
from floorwatch.schemas.llm import RiskReport
from floorwatch.storage.db import session_scope


def default_out_dir(settings: Settings) -> Path:
    """``media.dir/reports/<UTC timestamp>/``."""
    return settings.media.dir / "reports" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def write_report_files(
    report: RiskReport, out_dir: Path, settings: Settings, factory: sessionmaker[Session]
) -> list[Path]:
    """Write ``report.json`` (the ``--json`` document), ``risk_report.full.json`` (the typed result without
    the per-zone facts), ``report.html`` and ``report.md`` (+ ``figures/``) into ``out_dir`` (created).

    Returns:
        The written paths, JSON files first. Each file is replaced atomically (temp file + rename).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("report.json", json.dumps(report.public_json(), indent=2, ensure_ascii=False)),
        ("risk_report.full.json", report.model_dump_json(indent=2, exclude={"facts"})),
    ):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(out_dir / name)
        written.append(out_dir / name)
    with session_scope(factory) as session:
        paths = render_report(
            session, report.period.start, report.period.end, settings.media.dir, out_dir,
            settings=settings, facts=report.facts,
        )
    return written + [paths.html, paths.markdown]
