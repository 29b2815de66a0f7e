"""Prometheus ``/metrics`` endpoint shared by ``floorwatch watch`` and ``floorwatch sink``.

Each process builds its own :class:`prometheus_client.CollectorRegistry` (vision:
:class:`floorwatch.vision.telemetry.VisionTelemetry`, sink: :class:`floorwatch.bus.sink_metrics.SinkMetrics`)
and serves it with :func:`serve_metrics` on a port given on the command line (``--metrics-port``; off by
default). The exposition format is Prometheus text 0.0.4, produced by prometheus-client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server

log = logging.getLogger(__name__)

NAMESPACE = "floorwatch"


def process_registry(registry: CollectorRegistry | None = None) -> CollectorRegistry:
    """``registry`` as given, or a new registry holding prometheus-client's process collector
    (``process_cpu_seconds_total``, ``process_resident_memory_bytes``, ...)."""
    if registry is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
    return registry


class MetricsPortError(OSError):
    """The metrics port cannot be bound (in use, no permission, bad address)."""


@dataclass
class MetricsServer:
    """A running ``/metrics`` HTTP server (a daemon thread); :meth:`close` stops it."""

    host: str
    port: int
    _server: Any
    _thread: Any

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``registry`` at ``http://host:port/metrics`` from a daemon thread.

    Args:
        registry: the process's registry.
        port: TCP port (1..65535; 0 picks a free one, read it from the result).
        host: bind address; ``0.0.0.0`` lets a Prometheus on another machine scrape it.

    Raises:
        MetricsPortError: the address cannot be bound (names host, port and the reason).
    """
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise MetricsPortError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from exc
    bound = int(server.server_address[1])
    log.info("metrics at http://%s:%d/metrics", host, bound)
    return MetricsServer(host, bound, server, thread)
