"""``floorwatch config check FILE`` and ``floorwatch config show``.

Also the shared ``--config/-c`` option (``ConfigOption``, default ``$FLOORWATCH_CONFIG``) and
``load_or_exit`` that every other command uses to load settings with readable errors.
"""

from __future__ import annotations

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


def register(app: typer.Typer) -> None:
    """Add the ``config`` command group to the ``floorwatch`` app."""
    group = typer.Typer(name="config", help="Validate and show the configuration.", no_args_is_help=True)
    group.command("check")(check)
    group.command("show")(show)
    app.add_typer(group, name="config")
