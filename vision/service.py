"""Running pipelines for the CLI and the flows: replay one video, or watch every configured camera live.

Wires settings -> detector, database and event bus around :class:`VisionPipeline`. Knows nothing of
Prefect or typer, so the CLI, the flows, benchmarks and tests call the same functions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from floorwatch.config import CameraZoneConfig, DetectorConfig, Settings
from floorwatch.schemas.events import AlertEvent, AnomalyEvent, OutageEvent
from floorwatch.vision.batching import BatchedDetector
from floorwatch.vision.pipeline import FrameHook, PipelineStats, VisionPipeline, camera_for_replay
from floorwatch.vision.ppe import needs_ppe

log = logging.getLogger(__name__)

BusEvent = AlertEvent | OutageEvent | AnomalyEvent
EventHook = Callable[[BusEvent], None]


def apply_runtime(settings: Settings) -> None:
    """Offline model libraries and the configured torch / OpenCV thread counts (call once per process)."""
    from floorwatch.runtime import configure_offline, set_threads

    configure_offline()
    set_threads(settings.runtime.torch_threads, settings.runtime.opencv_threads)


def detector_config(
    settings: Settings, model: str | None = None, imgsz: int | None = None, ppe_model: str | None = None
) -> DetectorConfig:
    """``settings.detector`` with ``--model`` / ``--imgsz`` / ``--ppe-model`` applied, validated (raises pydantic
    ValidationError)."""
    data = settings.detector.model_dump()
    if model is not None:
        data["model"] = model
    if imgsz is not None:
        data["imgsz"] = imgsz
    if ppe_model is not None:
        data["ppe"]["model"] = ppe_model
    return DetectorConfig.model_validate(data)


def build_detector(cfg: DetectorConfig) -> Any:
    """Load the detector (raises ModelNotFoundError / KeyError naming the model)."""
    from floorwatch.vision.detector import Detector

    return Detector(cfg)


def build_ppe_detector(cfg: DetectorConfig) -> Any:
    """Load the PPE detector of ``cfg.ppe`` (None when ``cfg.ppe.model`` is not set; raises
    ModelNotFoundError / KeyError naming the model)."""
    from floorwatch.vision.ppe import PPEDetector

    return PPEDetector(cfg) if cfg.ppe.model is not None else None


def prepare_database(settings: Settings) -> sessionmaker[Session]:
    """Open the configured database for writing events.

    The embedded SQLite default is created and migrated when its file does not exist yet; any existing
    database (SQLite file or PostgreSQL) must already be current, else ``SchemaOutdatedError`` tells the user
    to run ``floorwatch db upgrade``.
    """
    from floorwatch.app import open_database

    url = make_url(settings.database.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        from pathlib import Path

        if not Path(url.database).exists():
            from floorwatch.storage.db import make_engine
            from floorwatch.storage.migrate import upgrade

            engine = make_engine(settings.database.url)
            try:
                upgrade(engine)
                log.info("created database %s", url.render_as_string(hide_password=True))
            finally:
                engine.dispose()
    return open_database(settings, check=True)


@dataclass
class EventSink:
    """Where pipeline events go: the configured bus (and the DB through it), plus an optional hook."""

    publish: Callable[[BusEvent], None]
    close: Callable[[], None]


def open_sink(settings: Settings, store: bool = True, on_event: EventHook | None = None) -> EventSink:
    """The event sink of a run.

    Args:
        settings: bus and database settings.
        store: False = no bus and no database (``--no-db``): events only reach ``on_event``.
        on_event: Called with every published event (e.g. print JSON lines).
    """
    if not store:
        return EventSink(publish=on_event or (lambda _e: None), close=lambda: None)
    if settings.bus.kind == "inprocess":
        from floorwatch.bus.inprocess import InProcessBus, database_handler

        bus: Any = InProcessBus([database_handler(prepare_database(settings))])
    else:
        from floorwatch.app import make_bus

        bus = make_bus(settings)

    def publish(event: BusEvent) -> None:
        bus.publish(event)
        if on_event is not None:
            on_event(event)

    def close() -> None:
        try:
            bus.flush()
        finally:
            bus.close()

    return EventSink(publish=publish, close=close)


def replay(
    video: str,
    settings: Settings,
    *,
    camera_id: str | None = None,
    zones: list[CameraZoneConfig] | None = None,
    detector: Any = None,
    ppe_detector: Any = None,
    realtime: bool = False,
    max_frames: int | None = None,
    store: bool = True,
    on_event: EventHook | None = None,
    on_frame: FrameHook | None = None,
    start_time: datetime | None = None,
    fps: float | None = None,
) -> PipelineStats:
    """Replay one video file (or any source string) through the pipeline of ``camera_id``.

    ``detector`` / ``ppe_detector`` default to the models of ``settings.detector`` (the PPE model is loaded
    only when a zone has a ``missing_ppe`` rule and ``detector.ppe.model`` is set).

    Raises:
        SourceError: the video cannot be read. ConfigError/ValidationError, ModelNotFoundError, PPERuleError,
        SchemaOutdatedError: bad settings, model or database (nothing is written).
    """
    camera = camera_for_replay(video, settings, camera_id, zones, fps)  # fps: image sequences only
    from floorwatch.vision.sources import FrameSource

    FrameSource(video, camera_id=camera.id)  # fail fast on a missing file / bad URL before loading a model
    detector = detector if detector is not None else build_detector(settings.detector)
    if ppe_detector is None and needs_ppe(camera.zones):
        ppe_detector = build_ppe_detector(settings.detector)
    sink = open_sink(settings, store=store, on_event=on_event)
    try:
        pipeline = VisionPipeline(
            camera,
            detector,
            settings,
            sink.publish,
            realtime=realtime,
            max_frames=max_frames,
            on_frame=on_frame,
            start_time=start_time,
            ppe_detector=ppe_detector,
        )
        return pipeline.run()
    finally:
        sink.close()


def watch(
    settings: Settings,
    *,
    detector: Any = None,
    ppe_detector: Any = None,
    stop: threading.Event | None = None,
    max_frames: int | None = None,
    camera_ids: list[str] | None = None,
    on_event: EventHook | None = None,
    batch_wait_s: float = 0.005,
) -> dict[str, PipelineStats]:
    """Run configured cameras live, one thread each, sharing one detector, until ``stop`` or the sources end.

    The cameras' frames reach the detector through one :class:`BatchedDetector`: up to ``detector.batch``
    frames of different cameras (waiting at most ``batch_wait_s``) go into one model call; the PPE detector
    (``ppe_detector``, else ``detector.ppe`` when a camera has a ``missing_ppe`` rule) is batched the same way.
    A camera that is down at start counts as an outage and is retried with backoff.
    """
    cameras = [c for c in settings.cameras if camera_ids is None or c.id in camera_ids]
    if not cameras:
        raise ValueError("no cameras configured (add `cameras:` to the configuration)")
    stop = stop or threading.Event()
    detector = detector if detector is not None else build_detector(settings.detector)
    ppe_cameras = [c for c in cameras if needs_ppe(c.zones)]
    if ppe_detector is None and ppe_cameras:
        ppe_detector = build_ppe_detector(settings.detector)
    sink = open_sink(settings, store=True, on_event=on_event)
    # A batch never needs more frames than there are cameras; with one camera nobody waits.
    batched = BatchedDetector(detector, max_batch=min(settings.detector.batch, len(cameras)),
                              max_wait_s=batch_wait_s)
    batched_ppe = (
        BatchedDetector(ppe_detector, max_batch=min(settings.detector.batch, max(1, len(ppe_cameras))),
                        max_wait_s=batch_wait_s, name="batched-ppe-detector")
        if ppe_detector is not None
        else None
    )
    results: dict[str, PipelineStats] = {}
    errors: dict[str, BaseException] = {}

    def run_one(pipeline: VisionPipeline) -> None:
        try:
            results[pipeline.camera.id] = pipeline.run(stop)
        except BaseException as exc:  # reported after the join; other cameras keep running
            log.exception("camera %s failed", pipeline.camera.id)
            errors[pipeline.camera.id] = exc

    threads: list[threading.Thread] = []
    try:
        pipelines = [
            VisionPipeline(cam, batched, settings, sink.publish, max_frames=max_frames, require_initial=False,
                           ppe_detector=batched_ppe)
            for cam in cameras
        ]
        threads = [threading.Thread(target=run_one, args=(p,), name=f"camera-{p.camera.id}") for p in pipelines]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        batched.close()
        if batched_ppe is not None:
            batched_ppe.close()
        sink.close()
    if errors and not results:
        raise next(iter(errors.values()))
    return results


def monitor(
    settings: Settings,
    camera_id: str,
    *,
    detector: Any = None,
    ppe_detector: Any = None,
    stop: threading.Event | None = None,
    max_frames: int | None = None,
    heartbeat_s: float = 30.0,
    on_heartbeat: Callable[[dict[str, Any]], None] | None = None,
) -> PipelineStats:
    """Watch one configured camera live until ``stop`` (or ``max_frames``), reporting a heartbeat with the
    pipeline's stats every ``heartbeat_s`` seconds. Open alerts are ended and the bus flushed on the way out,
    so a restart starts clean. Raises KeyError for an unknown camera id.
    """
    camera = settings.camera(camera_id)
    stop = stop or threading.Event()
    detector = detector if detector is not None else build_detector(settings.detector)
    if ppe_detector is None and needs_ppe(camera.zones):
        ppe_detector = build_ppe_detector(settings.detector)
    sink = open_sink(settings, store=True)
    try:
        pipeline = VisionPipeline(camera, detector, settings, sink.publish, max_frames=max_frames,
                                  require_initial=False, ppe_detector=ppe_detector)
    except BaseException:  # e.g. PPERuleError: nothing ran, release the bus
        sink.close()
        raise
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["stats"] = pipeline.run(stop)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"camera-{camera_id}", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(heartbeat_s)
            if worker.is_alive() and on_heartbeat is not None:
                on_heartbeat({"alive": True, **pipeline.stats.as_dict()})
    finally:
        stop.set()
        worker.join(30)
        sink.close()
    if "error" in box:
        raise box["error"]
    return box["stats"]
