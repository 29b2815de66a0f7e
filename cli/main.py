"""The ``floorwatch`` command. Each area registers its own sub-commands from ``cli/<area>_cmd.py``."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="floorwatch",
    help="Factory-safety vision + LLM pipeline: live alerts and per-zone risk assessments.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Each module exposes ``register(app: typer.Typer) -> None``.
_COMMAND_MODULES = (
    "config_cmd",
    "db_cmd",
    "sink_cmd",
    "vision_cmd",
    "ingest_cmd",
    "report_cmd",
    "serve_cmd",
    "model_cmd",
    "deploy_cmd",
    "calibrate_cmd",
)

for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"floorwatch.cli.{_name}")
    except ModuleNotFoundError as exc:  # an area not built yet in this checkout
        if exc.name != f"floorwatch.cli.{_name}":
            raise
        continue
    _module.register(app)


if __name__ == "__main__":
    app()
