"""``floorwatch ingest reports|sensors``: incident reports and sensor CSVs into the shared database.

The ``ingest`` sub-app is shared: other areas add commands to it (``manuals``) via ``ingest_app``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.exc import SQLAlchemyError

from floorwatch.cli.config_cmd import ConfigOption, load_or_exit
from floorwatch.config import Settings
from floorwatch.storage.db import SchemaOutdatedError, session_scope

ingest_app = typer.Typer(help="Load incident reports, sensor data and manuals into the database.", no_args_is_help=True)

EXIT_FILE_ERROR = 1
EXIT_DB_ERROR = 4


def _open(settings: Settings):  # noqa: ANN202 - sessionmaker
    from floorwatch.app import open_database

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
    time_format: Annotated[str | None, typer.Option(help="strptime format of the time, e.g. %d-%m-%Y")] = None,
    zone_column: Annotated[str | None, typer.Option(help="Column/key naming the zone (slugified to a zone id)")] = None,
    source_name: Annotated[str | None, typer.Option(help="Source name stored with the reports (default: file name)")] = None,
    strict: Annotated[bool, typer.Option(help="Refuse a whole file when any row is bad")] = False,
) -> None:
    """Ingest incident reports (idempotent: a second run changes nothing)."""
    from floorwatch.ingest.reports import ColumnMapping, IngestError, ingest_file

    settings = load_or_exit(config)
    if source_name and len(paths) > 1:
        typer.echo("--source-name needs exactly one file (each file is its own source)", err=True)
        raise typer.Exit(EXIT_FILE_ERROR)
    mapping = ColumnMapping.from_settings(
        settings.ingest, id_column=id_column, text_column=text_column, time_column=time_column,
        time_format=time_format, zone_column=zone_column,
    )
    factory = _open(settings)
    tz = ZoneInfo(settings.site.timezone)
    _ingest_each(
        paths,
        factory,
        lambda session, path: ingest_file(
            session, path, mapping, tz=tz, max_chars=settings.llm.max_report_chars,
            source_name=source_name, strict=strict,
        ),
        IngestError,
    )


@ingest_app.command("sensors")
def sensors(
    path: Annotated[Path, typer.Argument(help="Wide CSV: a time column and one numeric column per channel")],
    zone: Annotated[str, typer.Option(help="Zone id the asset stands in")],
    config: ConfigOption = None,
    asset: Annotated[str | None, typer.Option(help="Asset (machine) name; default: the file name without suffix")] = None,
    sep: Annotated[str, typer.Option(help="Field separator")] = ",",
    time_column: Annotated[str, typer.Option(help="Column holding the timestamp")] = "datetime",
    window_seconds: Annotated[int, typer.Option(min=1, max=86_400, help="Aggregation window of stored readings")] = 60,
    fit_seconds: Annotated[float, typer.Option(min=1, help="Leading span assumed normal, used to fit the detector")] = 400,
    baseline: Annotated[Path | None, typer.Option(help="Anomaly-free CSV of the same asset to fit on instead")] = None,
    publish: Annotated[bool, typer.Option(help="Publish AnomalyEvents on the configured bus")] = False,
) -> None:
    """Ingest sensor readings, detect anomalies and store them (idempotent)."""
    from floorwatch.signals.anomaly import AnomalyDetectorConfig
    from floorwatch.signals.sensors import SensorFileError, ingest_sensor_file, publish_anomalies

    settings = load_or_exit(config)
    factory = _open(settings)
    bus = None
    if publish:
        from floorwatch.app import make_bus

        bus = make_bus(settings, factory)
    try:
        with session_scope(factory) as session:
            result = ingest_sensor_file(
                session, path, zone=zone, asset=asset, sep=sep, time_column=time_column,
                window_seconds=window_seconds, detector=AnomalyDetectorConfig(fit_seconds=fit_seconds),
                baseline=baseline, tz=ZoneInfo(settings.site.timezone),
            )
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
    for a in result.anomalies:
        typer.echo(f"  {a.started_at:%Y-%m-%d %H:%M:%S} .. {a.ended_at:%H:%M:%S}  {a.category:<11} score {a.score:.1f}  {', '.join(a.channels)}")


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
) -> None:
    """Store each file in its own transaction; report per file, go on after a bad one, exit 2 if any failed."""
    failed = 0
    for path in paths:
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
        for problem in getattr(summary, "rejected", ()):
            typer.echo(f"  rejected {problem}", err=True)
    if failed:
        raise typer.Exit(EXIT_FILE_ERROR)


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` sub-app to the root command."""
    app.add_typer(ingest_app, name="ingest")
