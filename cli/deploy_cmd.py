"""``floorwatch deploy``: print, or apply to a Prefect server, the deployments of ``deploy/prefect.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from floorwatch.cli.config_cmd import ConfigOption, load_or_exit

if TYPE_CHECKING:
    from floorwatch.flows.deploy_plan import DeploymentPlan

EXIT_BAD_DEPLOY_FILE = 2
EXIT_SERVER_ERROR = 5


def deploy(
    config: ConfigOption = None,
    pool: Annotated[str | None, typer.Option("--pool", help="Work pool name (default: the file's)")] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Create/update on the Prefect server ($PREFECT_API_URL)")
    ] = False,
    deploy_file: Annotated[
        Path | None,
        typer.Option("--file", help="Deployment file (default: deploy/prefect.yaml of this checkout)"),
    ] = None,
) -> None:
    """Plan the work pool, concurrency limits and deployments (one monitor per camera); --apply makes them so.

    Without --apply nothing is contacted. Re-applying updates in place and never duplicates.
    """
    from floorwatch.flows.deploy_plan import (
        DEFAULT_DEPLOY_FILE,
        DeployFileError,
        build_plan,
        load_deploy_file,
    )
    from floorwatch.flows.deployments import format_plan

    settings = load_or_exit(config)
    path = deploy_file or DEFAULT_DEPLOY_FILE
    try:
        plan = build_plan(load_deploy_file(path), settings, config_path=config, pool_name=pool)
    except DeployFileError as exc:
        typer.echo(f"invalid deployment file {path}:", err=True)
        for problem in exc.problems:
            typer.echo(f"  {exc.source}: {problem}", err=True)
        raise typer.Exit(EXIT_BAD_DEPLOY_FILE) from exc
    typer.echo(format_plan(plan))
    if not apply:
        typer.echo("(plan only; run with --apply to create/update these on the Prefect server)")
        return
    _apply(plan)


def _apply(plan: DeploymentPlan) -> None:
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL

    from floorwatch.flows.deploy_plan import DeployFileError
    from floorwatch.flows.deployments import apply_plan

    api = PREFECT_API_URL.value()
    if not api:
        typer.echo(
            "PREFECT_API_URL is not set: point it at the Prefect server, e.g. http://HOST:4200/api", err=True
        )
        raise typer.Exit(EXIT_SERVER_ERROR)
    try:
        result = apply_plan(plan)
    except DeployFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_BAD_DEPLOY_FILE) from exc
    except (httpx.HTTPError, PrefectHTTPStatusError, RuntimeError) as exc:
        typer.echo(f"Prefect server {api} refused or is unreachable: {exc}", err=True)
        raise typer.Exit(EXIT_SERVER_ERROR) from exc
    typer.echo(f"applied to {api}: created {len(result.created)}, updated {len(result.updated)}")
    for item in result.created:
        typer.echo(f"  created {item}")
    for item in result.updated:
        typer.echo(f"  updated {item}")
    for name in result.stale:
        typer.echo(f"  stale deployment {name} (not in the plan; delete with `prefect deployment delete`)")


def register(app: typer.Typer) -> None:
    """Add ``floorwatch deploy`` to the app."""
    app.command("deploy")(deploy)
