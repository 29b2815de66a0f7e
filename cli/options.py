"""Typer option types shared by several commands (``watch`` and ``sink`` serve Prometheus metrics)."""

from __future__ import annotations

from typing import Annotated

import typer

MetricsPortOption = Annotated[
    int | None, typer.Option("--metrics-port", min=0, max=65535, help="Serve Prometheus /metrics on this port")
]
MetricsHostOption = Annotated[
    str, typer.Option("--metrics-host", help="Bind address of /metrics (0.0.0.0: scrape from elsewhere)")
]
