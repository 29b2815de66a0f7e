"""``floorwatch config check FILE``, ``floorwatch config show`` and ``floorwatch config init [PATH]``.

Also the shared ``--config/-c`` option (``ConfigOption``, default ``$FLOORWATCH_CONFIG``) and
``load_or_exit`` that every other command uses to load settings with readable errors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from floorwatch.config import Settings

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="FLOORWATCH_CONFIG",
        help="Configuration YAML (default: $FLOORWATCH_CONFIG, else built-in defaults)",
        show_envvar=True,
    ),
]

EXIT_BAD_CONFIG = 2
EXIT_EXISTS = 1
MASK = "***"


def load_or_exit(path: Path | str | None) -> Settings:
    """Load settings or print every problem (file, line, key path, reason) to stderr and exit with code 2."""
    from floorwatch.config import ConfigError, load_settings  # here, so `floorwatch --help` stays quick

    try:
        return load_settings(path)
    except ConfigError as err:
        typer.echo(f"invalid configuration {err.source}:", err=True)
        for problem in err.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(EXIT_BAD_CONFIG) from err


def mask_database_url(url: str) -> str:
    """The database URL with its password replaced by ``***`` (unparseable URLs are masked whole).

    Parsed with ``urllib`` rather than SQLAlchemy, which takes a second to import (``config check``).
    """
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if not parts.scheme:
            return MASK
        userinfo, at, hostinfo = parts.netloc.rpartition("@")
    except ValueError:
        return MASK
    if not at or ":" not in userinfo:
        return url
    netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostinfo}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def masked_dump(settings: Settings) -> dict[str, Any]:
    """Effective settings as plain data with secrets masked (token, DB password, camera credentials)."""
    from floorwatch.storage.registry import redact_url

    data = settings.model_dump(mode="json")
    data["database"]["url"] = mask_database_url(settings.database.url)
    if data["serve"].get("token"):
        data["serve"]["token"] = MASK
    for cam in data["cameras"]:
        cam["source"] = redact_url(cam["source"], mask=MASK)
    return data


def _summary(settings: Settings) -> str:
    rules = sum(len(cz.rules) for cam in settings.cameras for cz in cam.zones)
    return (
        f"site {settings.site.name!r}: {len(settings.zones)} zones, {len(settings.cameras)} cameras, "
        f"{rules} rules; database {mask_database_url(settings.database.url)}; bus {settings.bus.kind}; "
        f"llm {settings.llm.backend}; detector {settings.detector.model}"
    )


def check(file: Annotated[Path, typer.Argument(help="Configuration YAML to validate")]) -> None:
    """Validate a configuration file (environment overrides included); exit 2 listing every problem."""
    settings = load_or_exit(file)
    typer.echo(f"OK {file}: {_summary(settings)}")


def show(config: ConfigOption = None) -> None:
    """Print the effective configuration (file + FLOORWATCH_* environment) as YAML, secrets masked."""
    settings = load_or_exit(config)
    import yaml

    typer.echo(yaml.safe_dump(masked_dump(settings), sort_keys=False, allow_unicode=True), nl=False)


def init(
    path: Annotated[
        Path | None,
        typer.Argument(
            envvar="FLOORWATCH_CONFIG", show_envvar=True,
            help="File to write (default: $FLOORWATCH_CONFIG, the file every command reads)",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file")] = False,
) -> None:
    """Write a commented starter configuration (site, one zone, one camera, database and LLM defaults) to edit."""
    if path is None:
        typer.echo("error: give the file to write (floorwatch config init site.yaml) or set FLOORWATCH_CONFIG", err=True)
        raise typer.Exit(EXIT_BAD_CONFIG)
    if path.is_dir():
        typer.echo(f"error: {path} is a folder; give the file to write, e.g. {path / 'floorwatch.yaml'}", err=True)
        raise typer.Exit(EXIT_EXISTS)
    if path.exists() and not force:
        typer.echo(f"error: {path} exists; not replaced (--force replaces it)", err=True)
        raise typer.Exit(EXIT_EXISTS)
    from floorwatch.config_doc import starter_yaml
    from floorwatch.review.config_write import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        atomic_write(path, starter_yaml(str(path)))  # a replaced file keeps its mode
        if new:  # the temporary file's 0600 -> what the umask gives a new file, as an editor would
            umask = os.umask(0)
            os.umask(umask)
            path.chmod(0o666 & ~umask)
    except OSError as exc:
        typer.echo(f"error: cannot write {path}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_EXISTS) from exc
    typer.echo(f"wrote {path}: edit it, then check it with `floorwatch config check {path}`")


def register(app: typer.Typer) -> None:
    """Add the ``config`` command group to the ``floorwatch`` app."""
    group = typer.Typer(name="config", help="Validate, show and start the configuration.", no_args_is_help=True)
    group.command("check")(check)
    group.command("show")(show)
    group.command("init")(init)
    app.add_typer(group, name="config")
