"""``floorwatch ingest reports|sensors``: incident reports and sensor CSVs into the shared database.

The ``ingest`` sub-app is shared: other areas add commands to it (``manuals``) via ``ingest_app``.
Files are read by ``floorwatch.tabular`` (encoding, separator, decimal comma and date layout
detected; ``--encoding``, ``--sep``, ``--time-format`` override). ``--dry-run`` shows what would be
stored and rejected without opening the database. A run that stores nothing exits non-zero.
Reports stored without a time or a zone, or under a zone id the configuration does not list, are
stored all the same; each file's summary is followed by a ``warning:`` line on stderr for them.
Heavy libraries (SQLAlchemy, pandas, scikit-learn) are imported inside the commands.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from floorwatch.cli.config_cmd import ConfigOption, load_or_exit
from floorwatch.wording import count_noun

if TYPE_CHECKING:
    from floorwatch.config import Settings
    from floorwatch.ingest.reports import IngestSummary

ingest_app = typer.Typer(help="Load incident reports, sensor data and manuals into the database.", no_args_is_help=True)

EXIT_FILE_ERROR = 1
EXIT_DB_ERROR = 4
SHOWN_ZONES = 12  # known zones listed in an unknown-zone warning


EncodingOption = Annotated[str | None, typer.Option(help="Text encoding of the file (default: detected, e.g. cp1252)")]
SepOption = Annotated[str | None, typer.Option(help="Field separator of CSV files (default: sniffed among , ; TAB |)")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would be stored and rejected; write nothing")]


def _open(settings: Settings):  # noqa: ANN202 - sessionmaker
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.app import open_database
    from floorwatch.storage.db import SchemaOutdatedError

    try:
        return open_database(settings)
    except SchemaOutdatedError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc
    except SQLAlchemyError as exc:
        typer.echo(f"cannot open database: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc


@ingest_app.command("reports")
def reports(
    paths: Annotated[list[Path], typer.Argument(help="Report files: .md/.txt (one report), .jsonl, .csv")],
    config: ConfigOption = None,
    id_column: Annotated[str | None, typer.Option(help="Column/key of the report id ('' = unnamed first column)")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column/key of the report text")] = None,
    time_column: Annotated[str | None, typer.Option(help="Column/key of the incident time")] = None,
    time_format: Annotated[str | None, typer.Option(help="strptime format of the time, e.g. %d-%m-%Y (default: inferred from the column)")] = None,
    zone_column: Annotated[str | None, typer.Option(help="Column/key naming the zone: a zone id or a configured zone's name (other labels are slugified to an id)")] = None,
    source_name: Annotated[str | None, typer.Option(help="Source name stored with the reports (default: file name)")] = None,
    strict: Annotated[bool, typer.Option(help="Refuse a whole file when any row is bad")] = False,
    encoding: EncodingOption = None,
    sep: SepOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Ingest incident reports (idempotent: a second run changes nothing; exit 1 when a file stores nothing)."""
    from floorwatch.ingest.reports import ColumnMapping, IngestError, ingest_file

    settings = load_or_exit(config)
    if source_name and len(paths) > 1:
        typer.echo("--source-name needs exactly one file (each file is its own source)", err=True)
        raise typer.Exit(EXIT_FILE_ERROR)
    mapping = ColumnMapping.from_settings(
        settings.ingest, settings.zones, id_column=id_column, text_column=text_column, time_column=time_column,
        time_format=time_format, zone_column=zone_column, encoding=encoding, sep=sep,
    )
    tz = ZoneInfo(settings.site.timezone)
    configured_zones = [z.id for z in settings.zones]
    if dry_run:
        from floorwatch.cli.ingest_preview import preview_reports

        raise typer.Exit(preview_reports(
            paths, mapping, tz, settings.llm.max_report_chars, strict,
            warnings=lambda summary: report_warnings(summary, configured_zones, dry_run=True),
        ))
    factory = _open(settings)
    _ingest_each(
        paths,
        factory,
        lambda session, path: ingest_file(
            session, path, mapping, tz=tz, max_chars=settings.llm.max_report_chars,
            source_name=source_name, strict=strict,
        ),
        IngestError,
        warnings=lambda summary: report_warnings(summary, configured_zones),
    )


def unknown_zone_warning(zone: str, configured_zones: list[str], source: str, stored: str) -> str | None:
    """The warning for a zone id the configuration does not list (None when it does, or lists no zone), with the
    closest configured id as a hint; ``stored`` says what was stored under it ("the report was")."""
    import difflib

    if not configured_zones or zone in configured_zones:
        return None
    known = sorted(configured_zones)
    shown = ", ".join(known[:SHOWN_ZONES]) + (f", ... {len(known) - SHOWN_ZONES} more" if len(known) > SHOWN_ZONES else "")
    close = difflib.get_close_matches(zone, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"warning: {source}: zone {zone!r} is not in the configuration (known zones: {shown}); {stored} stored under it{hint}"


def report_warnings(summary: IngestSummary, configured_zones: list[str], *, dry_run: bool = False) -> list[str]:
    """Warnings for one ingested report file, each naming the file: reports without a time or a zone (the risk job
    cannot place them), and zone ids that the configuration does not list (checked only when it lists any zone).
    ``dry_run``: the reports are not stored, so the zone warning says they would be."""
    out: list[str] = []
    total = summary.total
    for missing, what, where in ((summary.no_time, "time (occurred_at)", "a period"),
                                 (summary.no_zone, "zone", "a zone")):
        if missing:
            verb = "has" if missing == 1 else "have"
            them = "it" if missing == 1 else "them"
            out.append(f"warning: {summary.source}: {missing} of {count_noun(total, 'report')} {verb} no {what}: "
                       f"the risk job cannot place {them} in {where}")
    for zone, n in summary.unknown_zones(configured_zones).items():
        if dry_run:
            stored = "the report would be" if n == 1 else f"the {n} reports would be"
        else:
            stored = "the report was" if n == 1 else f"the {n} reports were"
        line = unknown_zone_warning(zone, configured_zones, summary.source, stored)
        if line is not None:
            out.append(line)
    return out


@ingest_app.command("sensors")
def sensors(
    path: Annotated[Path, typer.Argument(help="Wide CSV: a time column and one numeric column per channel")],
    zone: Annotated[str, typer.Option(help="Zone the asset stands in: a zone id or a configured zone's name")],
    config: ConfigOption = None,
    asset: Annotated[str | None, typer.Option(help="Asset (machine) name; default: the file name without suffix")] = None,
    sep: SepOption = None,
    time_column: Annotated[str | None, typer.Option(help="Column holding the timestamp (default: found by name or values)")] = None,
    time_format: Annotated[str | None, typer.Option(help="strptime format of the time (default: inferred from the column)")] = None,
    encoding: EncodingOption = None,
    window_seconds: Annotated[int, typer.Option(min=1, max=86_400, help="Aggregation window of stored readings")] = 60,
    fit_share: Annotated[float, typer.Option(min=0.01, max=1.0, help="Leading share of the series assumed normal, used to fit the detector")] = 0.35,
    fit_samples: Annotated[int | None, typer.Option(min=2, help="Fit on this many leading samples instead of --fit-share")] = None,
    baseline: Annotated[Path | None, typer.Option(help="Anomaly-free CSV of the same asset to fit on instead")] = None,
    publish: Annotated[bool, typer.Option(help="Publish AnomalyEvents on the configured bus")] = False,
    dry_run: DryRunOption = False,
) -> None:
    """Ingest sensor readings, detect anomalies and store them (idempotent). Any sampling rate; no flags needed."""
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.signals.anomaly import AnomalyDetectorConfig
    from floorwatch.signals.sensors import (
        SensorFileError,
        analyse_sensor_file,
        ingest_sensor_file,
        publish_anomalies,
    )
    from floorwatch.storage.db import session_scope

    settings = load_or_exit(config)
    zone = _sensor_zone(zone, settings)
    tz = ZoneInfo(settings.site.timezone)
    detector = AnomalyDetectorConfig(fit_share=fit_share, fit_samples=fit_samples)
    opts: dict[str, Any] = {"zone": zone, "asset": asset, "sep": sep, "time_column": time_column, "detector": detector,
                            "baseline": baseline, "tz": tz, "encoding": encoding, "time_format": time_format}
    if dry_run:
        try:
            series, found = analyse_sensor_file(path, **opts)
        except SensorFileError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_FILE_ERROR) from exc
        typer.echo(f"dry run, nothing written: {path}: {series.readings} readings of {series.values.shape[1]} channels "
                   f"would be stored, {len(found)} anomalies")
        for note in series.notes:
            typer.echo(f"  {note}", err=True)
        warning = unknown_zone_warning(zone, [z.id for z in settings.zones], path.name, "the readings would be")
        if warning is not None:
            typer.echo(warning, err=True)
        _print_anomalies(found, tz)
        return
    factory = _open(settings)
    bus = None
    if publish:
        from floorwatch.app import make_bus

        bus = make_bus(settings, factory)
    try:
        with session_scope(factory) as session:
            result = ingest_sensor_file(session, path, window_seconds=window_seconds, **opts)
        if bus is not None:  # only after the database commit
            publish_anomalies(bus, result)
    except SensorFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FILE_ERROR) from exc
    except SQLAlchemyError as exc:
        typer.echo(f"error: {path}: database write failed, nothing stored: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc
    finally:
        if bus is not None:
            bus.flush()
            bus.close()
    typer.echo(result.line())
    for note in result.notes:
        typer.echo(f"  {note}", err=True)
    warning = unknown_zone_warning(zone, [z.id for z in settings.zones], path.name, "the readings were")
    if warning is not None:  # as for reports: stored, but the risk job of a configured zone will not see them
        typer.echo(warning, err=True)
    _print_anomalies(result.anomalies, tz)


def _sensor_zone(zone: str, settings: Settings) -> str:
    """The zone id ``--zone`` means: a configured zone's id, or its name (any case, with or without accents) as
    ``ingest reports`` accepts it in a zone column; any other value is kept as given (checked as an id later)."""
    from floorwatch.ingest.reports import configured_zone_id

    found = configured_zone_id(zone, settings.zones)
    if found is None or found == zone:
        return zone
    name = next((z.name for z in settings.zones if z.id == found), "")
    typer.echo(f"zone {zone!r}: the configured zone {found!r}" + (f" ({name})" if name and name != zone else ""), err=True)
    return found


def _print_anomalies(anomalies: list[Any], tz: ZoneInfo) -> None:
    """One line per anomaly, its times in the site's zone (``site.timezone``), which a heading names."""
    from datetime import UTC

    if anomalies:
        typer.echo(f"  anomalies (times in {tz.key}{', site.timezone' if tz.key != 'UTC' else ''}):")
    for a in anomalies:
        start, end = (t.replace(tzinfo=t.tzinfo or UTC).astimezone(tz) for t in (a.started_at, a.ended_at))
        typer.echo(f"  {start:%Y-%m-%d %H:%M:%S} .. {end:%Y-%m-%d %H:%M:%S} {start:%Z}  {a.category:<11} "
                   f"score {a.score:.1f}  {', '.join(a.channels)}")


@ingest_app.command("manuals")
def manuals(
    paths: Annotated[list[Path], typer.Argument(help="Safety manuals: .md, .txt or .pdf (file name = document name)")],
    config: ConfigOption = None,
    max_bytes: Annotated[int, typer.Option(min=1, help="Refuse larger files")] = 20_000_000,
    max_section_chars: Annotated[int, typer.Option(min=200, max=20_000, help="Split longer sections (heading kept)")] = 1500,
    embed: Annotated[bool, typer.Option(help="Embed sections with the packaged MiniLM (else keyword search only)")] = True,
) -> None:
    """Ingest safety manuals as sections for the risk report (idempotent: a second run changes nothing)."""
    from floorwatch.manuals.embed import try_load_embedder
    from floorwatch.manuals.sections import ManualError, ingest_manual

    settings = load_or_exit(config)
    factory = _open(settings)
    embedder, why = try_load_embedder(settings.runtime.torch_threads) if embed else (None, "disabled by --no-embed")
    _ingest_each(
        paths,
        factory,
        lambda session, path: ingest_manual(
            session, path, embedder=embedder, embedding_error=why, max_bytes=max_bytes,
            max_section_chars=max_section_chars,
        ),
        ManualError,
    )


def _ingest_each(
    paths: list[Path],
    factory: Any,
    store: Callable[[Any, Path], Any],
    file_error: type[Exception],
    warnings: Callable[[Any], list[str]] | None = None,
) -> None:
    """Store each file in its own transaction; report per file, go on after a bad one, exit 1 if any failed.

    ``warnings`` (if given) returns the warning lines of a file's summary; they go to stderr after its notes
    and change nothing else (the file counts as stored).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.progress import track
    from floorwatch.storage.db import session_scope

    failed = 0
    for path in track(paths, "ingest", every_s=10.0) if len(paths) > 1 else paths:
        try:
            with session_scope(factory) as session:
                summary = store(session, path)
        except file_error as exc:
            typer.echo(f"error: {exc}", err=True)
            failed += 1
            continue
        except SQLAlchemyError as exc:
            typer.echo(f"error: {path}: database write failed, nothing stored: {exc}", err=True)
            failed += 1
            continue
        typer.echo(summary.line())
        for note in getattr(summary, "notes", ()):
            typer.echo(f"  {note}", err=True)
        for warning in warnings(summary) if warnings is not None else ():
            typer.echo(f"  {warning}", err=True)
        for problem in getattr(summary, "rejected", ()):
            typer.echo(f"  rejected {problem}", err=True)
    if failed:
        raise typer.Exit(EXIT_FILE_ERROR)


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` sub-app to the root command."""
    app.add_typer(ingest_app, name="ingest")
