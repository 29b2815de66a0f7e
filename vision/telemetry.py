"""Live figures of the vision pipelines of one process, for Prometheus and for the camera health page.

:class:`VisionTelemetry` hooks into :func:`floorwatch.vision.service.watch` from the outside, so the
per-frame path gains no work beyond one timer around the detector call:

* the detector each pipeline sees is wrapped (:meth:`VisionTelemetry.predictor`): inference seconds
  histogram, time of the last processed frame;
* the publish function is wrapped (:meth:`VisionTelemetry.publisher`): alerts by camera, zone and rule,
  frame-to-alert latency (``published_at - captured_at`` of started alerts, the pipeline's own latency
  stamps), outages and whether the camera is in one;
* frame counters and queue depth are read from the pipelines' own counters only when scraped.

Metric names (prefix ``floorwatch_``), all labelled ``camera``: ``frames_read_total``,
``frames_processed_total``, ``frames_dropped_total`` (oldest frame dropped from the bounded capture
queue), ``frame_queue_depth``, ``camera_up`` (0 during an outage), ``camera_reconnects_total``,
``camera_outages_total``, ``inference_seconds`` (histogram), ``frame_to_alert_seconds`` (histogram, also
labelled ``rule``), ``alerts_total`` (started alerts, also labelled ``zone`` and ``rule``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from floorwatch.metrics import NAMESPACE, process_registry
from floorwatch.schemas.events import AlertEvent, OutageEvent

# Seconds. Inference on CPU runs 20 ms .. 2 s a frame; alerts should publish well under a second.
INFERENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
LATENCY_KEEP = 1000  # started alerts kept per camera for the health page's p50/p95
OUTAGE_WINDOW = timedelta(hours=24)


@dataclass
class CameraTelemetry:
    """What one camera's pipeline did so far (read by the heartbeat writer and the collector)."""

    camera_id: str
    pipeline: Any = None  # VisionPipeline; None until attached
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_frame_at: datetime | None = None
    outage_since: datetime | None = None
    outage_starts: deque[datetime] = field(default_factory=deque)
    latencies_s: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_KEEP))

    def frames_read(self) -> int:
        return int(self.pipeline.source.stats.frames_read) if self.pipeline is not None else 0

    def frames_processed(self) -> int:
        return int(self.pipeline.stats.frames) if self.pipeline is not None else 0

    def frames_dropped(self) -> int:
        return int(self.pipeline.source.stats.frames_dropped) if self.pipeline is not None else 0

    def reconnects(self) -> int:
        return int(self.pipeline.source.stats.reconnects) if self.pipeline is not None else 0

    def queue_depth(self) -> int:
        # len() of a deque is atomic; the reader thread appends, the pipeline thread pops.
        return len(self.pipeline.source._queue) if self.pipeline is not None else 0

    def ended(self) -> bool:
        """The pipeline's run is over (a recorded file reached its end, or the camera failed)."""
        return self.pipeline is not None and self.pipeline.stats.elapsed_s > 0  # set when run() returns

    def outages_since(self, since: datetime) -> int:
        """Outages that started at or after ``since`` (this process saw at most the last 24 h of them)."""
        return sum(1 for t in list(self.outage_starts) if t >= since)

    def latency_percentiles(self) -> tuple[float | None, float | None]:
        """p50 and p95 frame-to-alert latency in seconds over the last ``LATENCY_KEEP`` started alerts."""
        values = list(self.latencies_s)
        if not values:
            return None, None
        p50, p95 = np.percentile(values, [50, 95])
        return float(p50), float(p95)


class _PipelineCollector(Collector):
    """Reads the pipelines' own counters at scrape time (nothing is counted twice on the frame path)."""

    def __init__(self, cameras: dict[str, CameraTelemetry]):
        self._cameras = cameras

    def collect(self) -> Iterator[Any]:
        def fam(kind: type, name: str, doc: str, value: Callable[[CameraTelemetry], float]) -> Any:
            m = kind(f"{NAMESPACE}_{name}", doc, labels=["camera"])
            for cam in list(self._cameras.values()):
                m.add_metric([cam.camera_id], value(cam))
            return m

        yield fam(CounterMetricFamily, "frames_read", "Frames read from the source", CameraTelemetry.frames_read)
        yield fam(CounterMetricFamily, "frames_processed", "Frames through detection, tracking and rules",
                  CameraTelemetry.frames_processed)
        yield fam(CounterMetricFamily, "frames_dropped",
                  "Frames dropped from the full capture queue (oldest first)", CameraTelemetry.frames_dropped)
        yield fam(CounterMetricFamily, "camera_reconnects", "Reconnection attempts to the stream",
                  CameraTelemetry.reconnects)
        yield fam(GaugeMetricFamily, "frame_queue_depth", "Frames waiting between capture and inference",
                  CameraTelemetry.queue_depth)
        yield fam(GaugeMetricFamily, "camera_up", "1 while frames arrive, 0 during an outage",
                  lambda c: 0.0 if c.outage_since is not None else 1.0)


class _TimedPredictor:
    """A detector seen by one camera's pipeline: times each call and notes the frame time."""

    def __init__(self, inner: Any, cam: CameraTelemetry, histogram: Any):
        self._inner = inner
        self._cam = cam
        self._histogram = histogram

    def predict(self, frames: list[np.ndarray], min_conf: float | None = None) -> list[Any]:
        t0 = time.perf_counter()
        out = self._inner.predict(frames) if min_conf is None else self._inner.predict(frames, min_conf=min_conf)
        self._histogram.observe(time.perf_counter() - t0)
        self._cam.last_frame_at = datetime.now(UTC)
        return out  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:  # names, labels, ... of the wrapped detector
        return getattr(self._inner, name)


class VisionTelemetry:
    """Prometheus metrics and health figures of the cameras run by one ``watch`` process.

    Args:
        registry: where the metrics go (default: a new registry with the process collector).
    """

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry = process_registry(registry)
        self.cameras: dict[str, CameraTelemetry] = {}
        self._lock = threading.Lock()
        self.inference = Histogram(
            "inference_seconds", "Detector call per frame (batching wait included), seconds",
            ["camera"], namespace=NAMESPACE, registry=registry, buckets=INFERENCE_BUCKETS,
        )  # fmt: skip
        self.latency = Histogram(
            "frame_to_alert_seconds", "Frame captured -> started alert handed to the bus, seconds",
            ["camera", "rule"], namespace=NAMESPACE, registry=registry, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self.alerts = Counter(
            "alerts", "Started alerts", ["camera", "zone", "rule"], namespace=NAMESPACE, registry=registry
        )
        self.outages = Counter(
            "camera_outages", "Camera outages started", ["camera"], namespace=NAMESPACE, registry=registry
        )
        registry.register(_PipelineCollector(self.cameras))

    def camera(self, camera_id: str) -> CameraTelemetry:
        """The telemetry of ``camera_id`` (created on first use)."""
        with self._lock:
            cam = self.cameras.get(camera_id)
            if cam is None:
                cam = self.cameras[camera_id] = CameraTelemetry(camera_id)
            return cam

    def attach(self, pipeline: Any) -> None:
        """Read frame counters and queue depth from ``pipeline`` (a VisionPipeline) from now on."""
        self.camera(pipeline.camera.id).pipeline = pipeline

    def predictor(self, detector: Any, camera_id: str) -> _TimedPredictor:
        """``detector`` as one camera's pipeline should see it (timed)."""
        return _TimedPredictor(detector, self.camera(camera_id), self.inference.labels(camera_id))

    def publisher(self, publish: Callable[[Any], None]) -> Callable[[Any], None]:
        """``publish`` that also counts alerts, latency and outages of every event it passes on."""

        def counted(event: Any) -> None:
            publish(event)
            self.observe(event)

        return counted

    def observe(self, event: Any) -> None:
        """Count one published event (alerts: started ones only; outages: start and end)."""
        if isinstance(event, AlertEvent):
            if event.phase != "started":
                return
            self.alerts.labels(event.camera_id, event.zone_id, event.rule).inc()
            if event.latency is not None:
                seconds = (event.latency.published_at - event.latency.captured_at).total_seconds()
                self.latency.labels(event.camera_id, event.rule).observe(seconds)
                self.camera(event.camera_id).latencies_s.append(seconds)
        elif isinstance(event, OutageEvent):
            cam = self.camera(event.camera_id)
            if event.ended_at is None:
                self.outages.labels(event.camera_id).inc()
                cam.outage_since = event.started_at
                cam.outage_starts.append(event.started_at)
                cutoff = datetime.now(UTC) - OUTAGE_WINDOW
                while cam.outage_starts and cam.outage_starts[0] < cutoff:
                    cam.outage_starts.popleft()
            else:
                cam.outage_since = None
