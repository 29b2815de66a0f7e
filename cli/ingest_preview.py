"""``floorwatch ingest reports --dry-run``: what each file would store and reject, without the database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from floorwatch.ingest.reports import (
    ColumnMapping,
    IngestError,
    IngestSummary,
    ParsedReport,
    count_placement,
    parse_file,
)

PREVIEW_ROWS = 5


def preview_reports(  # noqa: PLR0913 - the command's options, passed through
    paths: list[Path], mapping: ColumnMapping, tz: ZoneInfo, max_chars: int, strict: bool,
    warnings: Callable[[IngestSummary], list[str]] | None = None,
) -> int:
    """Print, per file, the detected layout, the first reports that would be stored, the warnings a real run would
    give (``warnings`` of a summary of the reports: ``ingest_cmd.report_warnings``) and every rejected row.

    Returns:
        The exit code a real run would have: 0 when every file would store at least one report, else 1.
    """
    failed = 0
    for path in paths:
        notes: list[str] = []
        try:
            reports, problems = parse_file(path, mapping, tz, max_chars, notes)
        except IngestError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        refused = (strict and problems) or not reports
        verdict = "would be refused, nothing stored" if refused else f"{len(reports)} report(s) would be stored"
        typer.echo(f"dry run, nothing written: {path}: {verdict}, {len(problems)} rejected")
        for note in notes:
            typer.echo(f"  {note}")
        for rep in reports[:PREVIEW_ROWS]:
            when = _shown_time(rep, tz)
            typer.echo(f"  row {rep.row}: id {rep.source_id[:24]!r}, {when}, zone {rep.zone_id or '-'}, {rep.title[:60]!r}")
        if len(reports) > PREVIEW_ROWS:
            typer.echo(f"  ... {len(reports) - PREVIEW_ROWS} more")
        if warnings is not None and not refused:
            summary = IngestSummary(source=path.name, new=len(reports))
            count_placement(reports, summary)
            for warning in warnings(summary):
                typer.echo(f"  {warning}", err=True)
        for problem in problems:
            typer.echo(f"  rejected {problem}")
        failed += bool(refused)
    return 1 if failed else 0


def _shown_time(rep: ParsedReport, tz: ZoneInfo) -> str:
    """A report's time as it would be stored, in site time: ``2026-07-12 14:30 (Europe/Lisbon)``; a date alone
    without a clock (``2026-07-15, no time of day``); ``-`` without a time."""
    if rep.occurred_at is None:
        return "-"
    local = rep.occurred_at.astimezone(tz)
    return f"{local:%Y-%m-%d}, no time of day" if not rep.time_of_day_known else f"{local:%Y-%m-%d %H:%M} ({tz.key})"
