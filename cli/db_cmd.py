"""``floorwatch db upgrade`` and ``floorwatch db current``: the schema of the shared database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from floorwatch.cli.config_cmd import ConfigOption, load_or_exit, mask_database_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXIT_DB_ERROR = 1
EXIT_OUTDATED = 3


def _engine(config: ConfigOption) -> tuple[Engine, str]:
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.storage.db import make_engine

    settings = load_or_exit(config)
    shown = mask_database_url(settings.database.url)
    try:
        return make_engine(settings.database.url), shown
    except (SQLAlchemyError, ValueError, OSError) as exc:
        typer.echo(f"cannot open database {shown}: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc


def upgrade(config: ConfigOption = None) -> None:
    """Apply all migrations to the configured database (creates it from empty; a no-op when current)."""
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.storage.migrate import current_revision
    from floorwatch.storage.migrate import upgrade as migrate_upgrade

    engine, shown = _engine(config)
    try:
        before = current_revision(engine)
        after = migrate_upgrade(engine)
    except SQLAlchemyError as exc:
        typer.echo(f"upgrade of {shown} failed: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"{shown}: already at revision {after} (head)")
    else:
        typer.echo(f"{shown}: upgraded from {before or 'empty'} to {after} (head)")


def current(config: ConfigOption = None) -> None:
    """Print the database's revision and this code's head; exit 3 when they differ."""
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.storage.migrate import current_revision, head_revision

    engine, shown = _engine(config)
    try:
        rev = current_revision(engine)
        head = head_revision(engine)
    except SQLAlchemyError as exc:
        typer.echo(f"cannot read revision of {shown}: {exc}", err=True)
        raise typer.Exit(EXIT_DB_ERROR) from exc
    finally:
        engine.dispose()
    typer.echo(f"database: {shown}\ncurrent:  {rev or 'empty (no tables)'}\nhead:     {head}")
    if rev != head:
        typer.echo("schema is not current: run `floorwatch db upgrade`", err=True)
        raise typer.Exit(EXIT_OUTDATED)


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group to the ``floorwatch`` app."""
    group = typer.Typer(name="db", help="Database schema (Alembic migrations).", no_args_is_help=True)
    group.command("upgrade")(upgrade)
    group.command("current")(current)
    app.add_typer(group, name="db")
