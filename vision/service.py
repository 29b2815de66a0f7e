"""Running pipelines for the CLI and the flows: replay one video, or watch every configured camera live.

Wires settings -> detector and the event publisher (built by ``floorwatch.app``) around
:class:`VisionPipeline`. Knows nothing of Prefect or typer, so the CLI, the flows, benchmarks and tests call
the same functions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from floorwatch.app import EventHook, open_publisher
from floorwatch.config import CameraZoneConfig, DetectorConfig, Settings
from floorwatch.vision.batching import BatchedDetector
from floorwatch.vision.pipeline import FrameHook, PipelineStats, VisionPipeline, camera_for_replay
from floorwatch.vision.ppe import needs_ppe
from floorwatch.vision.predictor import Predictor

log = logging.getLogger(__name__)


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


def build_detector(cfg: DetectorConfig) -> Predictor:
    """Load the detector, tiled (:class:`~floorwatch.vision.tiling.TiledDetector`) when ``cfg.tiles`` > 1
    (raises ModelNotFoundError / KeyError naming the model)."""
    from floorwatch.vision.detector import Detector

    if cfg.tiles > 1:
        from floorwatch.vision.tiling import TiledDetector

        return TiledDetector(Detector(cfg), grid=cfg.tiles)
    return Detector(cfg)


def build_ppe_detector(cfg: DetectorConfig) -> Predictor | None:
    """Load the PPE detector of ``cfg.ppe`` (None when ``cfg.ppe.model`` is not set; raises
    ModelNotFoundError / KeyError naming the model)."""
    from floorwatch.vision.ppe import PPEDetector

    return PPEDetector(cfg) if cfg.ppe.model is not None else None


def replay(
    video: str,
    settings: Settings,
    *,
    camera_id: str | None = None,
    zones: list[CameraZoneConfig] | None = None,
    detector: Predictor | None = None,
    ppe_detector: Predictor | None = None,
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
    sink = open_publisher(settings, store=store, on_event=on_event)
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
    detector: Predictor | None = None,
    ppe_detector: Predictor | None = None,
    stop: threading.Event | None = None,
    max_frames: int | None = None,
    camera_ids: list[str] | None = None,
    on_event: EventHook | None = None,
    batch_wait_s: float = 0.005,
    telemetry: Any = None,
    live_view_fps: float = 0.0,
) -> dict[str, PipelineStats]:
    """Run configured cameras live, one thread each, sharing one detector, until ``stop`` or the sources end.

    The cameras' frames reach the detector through one :class:`BatchedDetector`: up to ``detector.batch``
    frames of different cameras (waiting at most ``batch_wait_s``) go into one model call; the PPE detector
    (``ppe_detector``, else ``detector.ppe`` when a camera has a ``missing_ppe`` rule) is batched the same way.
    A camera that is down at start counts as an outage and is retried with backoff. ``telemetry`` (a
    :class:`floorwatch.vision.telemetry.VisionTelemetry`) sees every camera's detector calls and events;
    ``live_view_fps`` > 0 writes each camera's annotated latest frame for the dashboard's live view
    (:mod:`floorwatch.vision.live_view`).
    """
    cameras = [c for c in settings.cameras if camera_ids is None or c.id in camera_ids]
    if not cameras:
        raise ValueError("no cameras configured (add `cameras:` to the configuration)")
    stop = stop or threading.Event()
    detector = detector if detector is not None else build_detector(settings.detector)
    ppe_cameras = [c for c in cameras if needs_ppe(c.zones)]
    if ppe_detector is None and ppe_cameras:
        ppe_detector = build_ppe_detector(settings.detector)
    sink = open_publisher(settings, store=True, on_event=on_event)
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
        publish = telemetry.publisher(sink.publish) if telemetry is not None else sink.publish
        pipelines = [
            VisionPipeline(cam, telemetry.predictor(batched, cam.id) if telemetry is not None else batched,
                           settings, publish, max_frames=max_frames, require_initial=False,
                           ppe_detector=batched_ppe)
            for cam in cameras
        ]
        for p in pipelines if telemetry is not None else []:
            telemetry.attach(p)
        if live_view_fps > 0:
            from floorwatch.vision.live_view import LiveViewWriter

            for p in pipelines:
                p.on_frame = LiveViewWriter(settings.media.dir, p.camera.id, live_view_fps,
                                            blur=settings.media.blur_faces)
                p.on_frame.pipeline = p
        # Daemon threads: once stopped, each camera gets a bounded join (_stop_cameras); one stuck in a blocking
        # read or connect must not keep the process alive after that (it is named in the log instead).
        threads = [
            threading.Thread(target=run_one, args=(p,), name=f"camera-{p.camera.id}", daemon=True) for p in pipelines
        ]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads) and not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        _stop_cameras(threads, stop)
        batched.close()
        if batched_ppe is not None:
            batched_ppe.close()
        sink.close()
    if errors and not results:
        raise next(iter(errors.values()))
    return results


def _stop_cameras(threads: list[threading.Thread], stop: threading.Event, grace_s: float = 10.0) -> None:
    """Set ``stop`` when a camera still runs (``stop`` set by a signal handler, or Ctrl-C), then give each
    running camera thread ``grace_s`` seconds; one that is still alive is named in the log and left behind."""
    if not any(t.is_alive() for t in threads):
        return
    stop.set()
    for t in threads:
        t.join(grace_s)
        if t.is_alive():
            log.warning("%s did not stop within %.0f s of the stop; exiting without it", t.name, grace_s)


def monitor(
    settings: Settings,
    camera_id: str,
    *,
    detector: Predictor | None = None,
    ppe_detector: Predictor | None = None,
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
    sink = open_publisher(settings, store=True)
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
