"""``floorwatch report``: run the risk job (map + reduce) and write ``report.json`` (and rendered reports).

Exit codes: 0 ok, 1 bad option value, 2 invalid configuration, 3 LLM/model not installed,
4 database problem, 5 nothing to report on (no zone, or no evidence in the period: the files are still written),
6 the model could read none of the incident reports it was given
(the report files are still written: they list each report and the reason).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from floorwatch.cli.config_cmd import ConfigOption, load_or_exit

if TYPE_CHECKING:
    pass

EXIT_BAD_OPTION = 1
EXIT_NO_MODEL = 3
EXIT_DB_ERROR = 4
EXIT_NO_DATA = 5
EXIT_NOTHING_READ = 6


def parse_when(value: str | None, tz: ZoneInfo, option: str, end_of_day: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO datetime; naive values are in the site's time zone.

    Raises:
        typer.BadParameter: naming the option and the value.
    """
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or ISO datetime", param_hint=option) from exc
    if len(value) == 10 and end_of_day:  # a bare date as --until means the whole day
        parsed = datetime.combine(parsed.date(), time.max)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def report(
    config: ConfigOption = None,
    since: Annotated[str | None, typer.Option(help="Period start, YYYY-MM-DD or ISO datetime (default: first data)")] = None,
    until: Annotated[str | None, typer.Option(help="Period end, YYYY-MM-DD (whole day) or ISO datetime (default: last data)")] = None,
    zone: Annotated[list[str] | None, typer.Option("--zone", help="Zone id (repeatable; default: all zones)")] = None,
    backend: Annotated[str | None, typer.Option(help="LLM backend: local, openai or vllm (default: llm.backend)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report JSON on stdout (nothing else)")] = False,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: media.dir/reports/<timestamp>/)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Extract at most N incidents (oldest first)")] = None,
) -> None:
    """Per-zone risk assessment of a period: extract incidents, score zones, write the summaries."""
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.app import open_database
    from floorwatch.llm.backends import make_backend
    from floorwatch.llm.gguf import ModelChecksumError, ModelNotInstalledError
    from floorwatch.llm.job import NoDataError, run_risk_job
    from floorwatch.review.report_files import default_out_dir, write_report_files
    from floorwatch.storage.db import SchemaOutdatedError

    settings = load_or_exit(config)
    tz = ZoneInfo(settings.site.timezone)
    start = parse_when(since, tz, "--since")
    end = parse_when(until, tz, "--until", end_of_day=True)
    if start and end and start > end:
        raise typer.BadParameter(f"--since {since} is after --until {until}", param_hint="--since")
    if out is not None and out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    if backend is not None and backend not in ("local", "openai", "vllm"):
        raise typer.BadParameter(f"{backend!r}: choose local, openai or vllm", param_hint="--backend")
    try:
        factory = open_database(settings)
    except (SchemaOutdatedError, SQLAlchemyError) as exc:
        typer.echo(f"cannot open database: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc
    from floorwatch.progress import StageProgress

    try:
        llm = make_backend(settings.llm, backend)
        with StageProgress("report") as progress:
            result = run_risk_job(settings, factory, since=start, until=end, zones=zone, backend=llm, limit=limit,
                                  on_progress=progress)
    except (ModelNotInstalledError, ModelChecksumError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_NO_MODEL) from exc
    except NoDataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_NO_DATA) from exc
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_OPTION) from exc
    except SQLAlchemyError as exc:
        typer.echo(f"error: database: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc
    written = write_report_files(result, out or default_out_dir(settings), settings, factory)
    if as_json:
        sys.stdout.write(json.dumps(result.public_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        failed = sum(1 for i in result.incidents if i.status == "failed")
        typer.echo(f"{len(result.incidents)} incidents extracted ({failed} failed), {len(result.zones)} zones, {result.seconds:.0f} s")
        for z in result.ranked_zones():  # as report.md and report.json list them
            if not z.evidence:
                typer.echo(f"  {z.zone_id:<20} no evidence in the period")
                continue
            typer.echo(f"  {z.zone_id:<20} {z.level:<8} {z.score:5.1f}  {z.trend:<7} {', '.join(h.category for h in z.top_hazards)}")
    for path in written:
        typer.echo(f"wrote {path}", err=True)
    empty = all(not z.evidence for z in result.zones)
    if empty:
        a, b = (t.astimezone(tz) if t.tzinfo else t.replace(tzinfo=UTC).astimezone(tz) for t in (result.period.start, result.period.end))
        typer.echo(
            f"error: no incident, alert, anomaly or outage in {a:%Y-%m-%d %H:%M} .. {b:%Y-%m-%d %H:%M} "
            f"({settings.site.timezone}) in any zone: the report shows no evidence, not low risk "
            "(check --since / --until)", err=True,
        )
    failures = [i for i in result.incidents if i.status == "failed"]
    if failures:
        word = "error" if len(failures) == len(result.incidents) else "warning"
        typer.echo(
            f"{word}: the model could not read {len(failures)} of {len(result.incidents)} incident reports "
            f"(incident {failures[0].incident_id}: {failures[0].error}); the report lists them", err=True,
        )
        if word == "error":
            raise typer.Exit(EXIT_NOTHING_READ)
    if empty:  # files written, but a period without any evidence is most often a wrong --since / --until
        raise typer.Exit(EXIT_NO_DATA)


def register(app: typer.Typer) -> None:
    """Add ``report`` to the ``floorwatch`` command."""
    app.command("report")(report)
