"""``floorwatch sink``: consume the Kafka event topics into the shared database."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer

from floorwatch.cli.config_cmd import ConfigOption, load_or_exit, mask_database_url
from floorwatch.cli.options import MetricsHostOption, MetricsPortOption
from floorwatch.cli.signals import stop_on_signals

EXIT_BUS_ERROR = 4
EXIT_DB_ERROR = 1
EXIT_OUTDATED = 3


def sink(
    config: ConfigOption = None,
    max_messages: Annotated[
        int | None, typer.Option("--max-messages", min=1, help="Stop after this many messages")
    ] = None,
    idle_exit: Annotated[
        float | None, typer.Option("--idle-exit", min=0.0, help="Stop after SECONDS without a message")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=10_000, help="Messages per transaction")
    ] = 500,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = "127.0.0.1",
) -> None:
    """Store alerts, outages and anomalies from Kafka in the database (DB commit first, then offsets).

    Malformed messages go to the dead_letters table; SIGTERM/SIGINT finish the current batch and exit 0.
    ``--metrics-port`` serves Prometheus metrics (consumed, committed, dead letters, consumer lag).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.app import open_database
    from floorwatch.bus.base import BusError
    from floorwatch.bus.sink import run_sink
    from floorwatch.storage.db import SchemaOutdatedError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = load_or_exit(config)
    if settings.bus.kind != "kafka":
        typer.echo(
            "note: bus.kind is 'inprocess'; the sink reads Kafka at " + settings.bus.bootstrap_servers,
            err=True,
        )
    shown = mask_database_url(settings.database.url)
    try:
        factory = open_database(settings)
    except SchemaOutdatedError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_OUTDATED) from exc
    except (SQLAlchemyError, OSError) as exc:
        typer.echo(f"cannot open database {shown}: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc

    stop = threading.Event()
    stop_on_signals(stop, "finishing the current batch")
    from floorwatch.bus.sink_metrics import SinkMetrics
    from floorwatch.metrics import MetricsPortError, serve_metrics

    metrics = SinkMetrics() if metrics_port is not None else None
    try:
        server = serve_metrics(metrics.registry, metrics_port, metrics_host) if metrics is not None else None
    except MetricsPortError as exc:
        factory.kw["bind"].dispose()
        typer.echo(f"sink: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        stats = run_sink(
            settings.bus, factory, stop, max_messages=max_messages, idle_exit=idle_exit, batch_size=batch_size,
            metrics=metrics,
        )
    except BusError as exc:
        typer.echo(f"sink: {exc}", err=True)
        raise typer.Exit(EXIT_BUS_ERROR) from exc
    except SQLAlchemyError as exc:
        typer.echo(f"sink: database {shown} failed: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc
    finally:
        factory.kw["bind"].dispose()
        if server is not None:
            server.close()
    typer.echo(
        f"sink: {stats.messages} messages in {stats.seconds:.1f} s ({stats.rate:.0f}/s), "
        f"{stats.events} events stored, {stats.dead_letters} dead letters"
    )


def register(app: typer.Typer) -> None:
    """Add ``floorwatch sink`` to the app."""
    app.command(name="sink")(sink)
