"""``floorwatch serve``: the triage dashboard (FastAPI under uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from floorwatch.cli.config_cmd import ConfigOption, load_or_exit


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""

    @app.command("serve")
    def serve(
        config: ConfigOption = None,
        host: Annotated[str | None, typer.Option(help="Bind address (default: serve.host)")] = None,
        port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default: serve.port)")] = None,
        read_only: Annotated[
            bool, typer.Option("--read-only", help="Serve without a token; every review/mutation answers 403")
        ] = False,
    ) -> None:
        """Run the dashboard: alert triage, zone risk, reports; JSON API under /api (docs at /docs).

        Reviews need the token of serve.token / FLOORWATCH_SERVE__TOKEN (API: 'Authorization: Bearer';
        pages: sign in on /login). Without a token it refuses to start unless --read-only.
        """
        import uvicorn

        from floorwatch.review.app import create_app
        from floorwatch.review.auth import NoTokenError
        from floorwatch.storage.db import SchemaOutdatedError

        settings = load_or_exit(config)
        try:
            import os
            from pathlib import Path

            source = config or os.environ.get("FLOORWATCH_CONFIG")
            web = create_app(settings, read_only=read_only, config_path=Path(source) if source else None)
        except (NoTokenError, SchemaOutdatedError) as exc:
            typer.echo(f"floorwatch serve: {exc}", err=True)
            raise typer.Exit(2) from exc
        bind_host = host or settings.serve.host
        bind_port = port or settings.serve.port
        mode = "read-only" if read_only else "reviews need the token"
        typer.echo(
            f"dashboard on http://{bind_host}:{bind_port} ({mode}); media from {settings.media.dir}", err=True
        )
        uvicorn.run(web, host=bind_host, port=bind_port, log_level="info", access_log=False)
