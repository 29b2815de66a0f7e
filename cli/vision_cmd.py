"""``floorwatch replay VIDEO`` and ``floorwatch watch``: the vision pipeline from the command line.

stdout carries only results (``--json``: one alert event per line); progress and logs go to stderr.
Exit codes: 0 ok, 2 bad input (video, URL, zones file, model, option), 4 database not usable.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from floorwatch.cli.config_cmd import ConfigOption, load_or_exit
from floorwatch.cli.options import MetricsHostOption, MetricsPortOption
from floorwatch.cli.signals import stop_on_signals

if TYPE_CHECKING:  # the vision stack loads only when a command runs
    from floorwatch.config import CameraZoneConfig, DetectorConfig, Settings
    from floorwatch.schemas.events import BusEvent
    from floorwatch.vision.detections import Detections
    from floorwatch.vision.predictor import Predictor
    from floorwatch.vision.sources import Frame

EXIT_BAD_INPUT = 2
EXIT_DB_ERROR = 4


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _log_to_stderr(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _parse_start_time(value: str, tz_name: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _fail(f"--start-time {value!r}: not an ISO 8601 time (e.g. 2024-03-18T08:00:00Z)") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=ZoneInfo(tz_name))


def replay(
    video: Annotated[str, typer.Argument(help="Video file, image pattern (img%06d.jpg) or stream URL")],
    config: ConfigOption = None,
    camera: Annotated[str | None, typer.Option("--camera", help="Camera id: use its zones from the config")] = None,
    zones: Annotated[Path | None, typer.Option("--zones", help="Zones YAML: list of {id, polygon, rules}")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Packaged model name or weights path")] = None,
    ppe_model: Annotated[
        str | None,
        typer.Option("--ppe-model", help="PPE model (detector.ppe.model) for missing_ppe rules: packaged name or weights path"),
    ] = None,
    imgsz: Annotated[int | None, typer.Option("--imgsz", help="Inference size (multiple of 32)")] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="Replay at the video's native rate")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per alert event on stdout")] = False,
    tracks_out: Annotated[Path | None, typer.Option("--tracks-out", help="Write per-frame tracks (JSON lines)")] = None,
    no_db: Annotated[bool, typer.Option("--no-db", help="Do not store events (no bus, no database); alert snapshots and clips still go to storage.media_dir")] = False,
    max_frames: Annotated[int | None, typer.Option("--max-frames", min=1, help="Stop after N frames")] = None,
    start_time: Annotated[
        str | None,
        typer.Option("--start-time", help="When the recording started (ISO 8601; naive = site time zone). Default: file mtime"),
    ] = None,
    fps: Annotated[
        float | None,
        typer.Option("--fps", min=0.001, max=1000, help="Frame rate of an image sequence (files use their own timestamps)"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress on stderr")] = False,
) -> None:
    """Run a recorded video through detection, tracking, zone rules and evidence; store the alerts."""
    _log_to_stderr(verbose)
    with _env_override(PPE_MODEL_ENV, ppe_model):  # so the config check already counts the PPE model
        settings = load_or_exit(config)
    from pydantic import ValidationError

    from floorwatch.config import ConfigError, load_zones_file
    from floorwatch.vision.ppe import PPERuleError
    from floorwatch.vision.sources import FrameSource, SourceError

    try:
        zone_list = load_zones_file(zones) if zones is not None else None
        FrameSource(video).check()  # unreadable file, zero frames, bad URL: fail before the model loads
        det_cfg = _detector_cfg(settings, model, imgsz, ppe_model)
        started = _parse_start_time(start_time, settings.site.timezone) if start_time else None
    except ConfigError as exc:
        raise _fail(f"zones file {exc}") from exc
    except SourceError as exc:
        raise _fail(str(exc)) from exc
    except ValidationError as exc:
        raise _fail("; ".join(f"--{e['loc'][0]}: {e['msg']}" for e in exc.errors())) from exc

    from floorwatch.vision import service
    from floorwatch.vision.output import JsonLinesWriter, alert_record, track_record

    service.apply_runtime(settings)
    detector = _load_detector(det_cfg)
    from floorwatch.vision.pipeline import camera_for_replay

    ppe_detector = _load_ppe_detector(det_cfg, camera_for_replay(video, settings, camera, zone_list).zones)
    stdout = JsonLinesWriter(sys.stdout) if as_json else None
    tracks = JsonLinesWriter(tracks_out) if tracks_out is not None else None

    def on_event(event: BusEvent) -> None:
        if stdout is not None and event.kind == "alert":
            stdout.write(alert_record(event))

    from floorwatch.progress import Progress

    progress = Progress("replay frames", max_frames or _frame_count(video))

    def on_frame(frame: Frame, dets: Detections) -> None:
        progress.advance()
        if tracks is not None:
            tracks.write(track_record(frame.index, frame.video_ts, dets))

    try:
        progress.__enter__()
        stats = service.replay(
            video, settings.model_copy(update={"detector": det_cfg}), camera_id=camera, zones=zone_list,
            detector=detector, ppe_detector=ppe_detector, realtime=realtime, max_frames=max_frames,
            store=not no_db, on_event=on_event, on_frame=on_frame, start_time=started,
            fps=fps,
        )
    except (SourceError, PPERuleError) as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        _raise_db_error(exc)
        raise
    finally:
        progress.__exit__(None, None, None)
        if tracks is not None:
            tracks.close()
    typer.echo(json.dumps({"summary": stats.as_dict()}), err=True)


def _frame_count(video: str) -> int | None:
    """Frames in a video file as its container states them (``None`` for a stream or when unknown)."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
    return n if n > 0 else None


def watch(
    config: ConfigOption = None,
    camera: Annotated[list[str] | None, typer.Option("--camera", help="Only these camera ids (repeatable)")] = None,
    max_frames: Annotated[int | None, typer.Option("--max-frames", min=1, help="Stop each camera after N frames")] = None,
    verbose: Annotated[bool, typer.Option("--verbose/--quiet", help="Log progress on stderr")] = True,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = "127.0.0.1",
    heartbeat_seconds: Annotated[
        float, typer.Option("--heartbeat-seconds", min=0.0, help="Camera health rows to the database every N s (0: off)")
    ] = 10.0,
    live_view_fps: Annotated[
        float, typer.Option("--live-view-fps", min=0.0, max=30.0, help="Annotated frames/s for the dashboard's live view (0: off)")
    ] = 0.0,
) -> None:
    """Watch every configured camera live (one thread per camera, one shared detector) until Ctrl-C.

    Camera health goes to the database every ``--heartbeat-seconds`` (the dashboard's /cameras page);
    ``--metrics-port`` serves Prometheus metrics (frames, drops, inference and frame-to-alert latency, alerts).
    """
    _log_to_stderr(verbose)
    settings = load_or_exit(config)
    known = {c.id for c in settings.cameras}
    if not known:
        raise _fail("no cameras configured (add `cameras:` with id, source and zones to the configuration)")
    unknown = sorted(set(camera or []) - known)
    if unknown:
        raise _fail(f"unknown camera(s) {unknown} (configured: {sorted(known)})")
    from floorwatch.vision import service
    from floorwatch.vision.sources import FrameSource, SourceError

    try:
        for cam in settings.cameras:
            FrameSource(cam.source, camera_id=cam.id)  # bad file / malformed URL in the config
    except SourceError as exc:
        raise _fail(str(exc)) from exc
    service.apply_runtime(settings)
    detector = _load_detector(settings.detector)
    wanted = [c for c in settings.cameras if camera is None or c.id in camera]
    ppe_detector = _load_ppe_detector(settings.detector, [z for c in wanted for z in c.zones])
    stop = threading.Event()
    from floorwatch.metrics import MetricsPortError
    from floorwatch.vision.heartbeat import observed
    from floorwatch.vision.ppe import PPERuleError
    from floorwatch.vision.telemetry import VisionTelemetry

    telemetry = VisionTelemetry()
    stop_on_signals(stop, "stopping the cameras")
    try:
        with observed(settings, telemetry, metrics_port, metrics_host, heartbeat_seconds):
            results = service.watch(settings, detector=detector, ppe_detector=ppe_detector, stop=stop,
                                    max_frames=max_frames, camera_ids=camera, telemetry=telemetry,
                                    live_view_fps=live_view_fps)
    except (PPERuleError, MetricsPortError) as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:
        _raise_db_error(exc)
        raise
    for stats in results.values():
        typer.echo(json.dumps({"summary": stats.as_dict()}), err=True)


PPE_MODEL_ENV = "FLOORWATCH_DETECTOR__PPE__MODEL"


@contextmanager
def _env_override(name: str, value: str | None) -> Iterator[None]:
    """Set an environment variable for the block (nothing when ``value`` is None), then restore it."""
    if value is None:
        yield
        return
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _detector_cfg(
    settings: Settings, model: str | None, imgsz: int | None, ppe_model: str | None = None
) -> DetectorConfig:
    from floorwatch.vision.service import detector_config

    return detector_config(settings, model, imgsz, ppe_model)


def _load_detector(cfg: DetectorConfig) -> Predictor:
    from floorwatch.vision.models import ModelNotFoundError

    try:
        from floorwatch.vision.service import build_detector

        return build_detector(cfg)
    except (ModelNotFoundError, KeyError) as exc:
        raise _fail(f"model {cfg.model!r}: {str(exc).strip(chr(39) + chr(34))}") from exc


def _load_ppe_detector(cfg: DetectorConfig, zones: list[CameraZoneConfig]) -> Predictor | None:
    """The PPE detector of ``cfg.ppe`` when set and a zone has a ``missing_ppe`` rule, else None; exits 2
    naming a model that cannot load."""
    from floorwatch.vision.models import ModelNotFoundError
    from floorwatch.vision.ppe import needs_ppe

    if cfg.ppe.model is None:
        return None
    if not needs_ppe(zones):
        typer.echo(f"note: PPE model {cfg.ppe.model!r} not used: no zone has a missing_ppe rule", err=True)
        return None
    try:
        from floorwatch.vision.service import build_ppe_detector

        return build_ppe_detector(cfg)
    except (ModelNotFoundError, KeyError) as exc:
        raise _fail(f"PPE model {cfg.ppe.model!r}: {str(exc).strip(chr(39) + chr(34))}") from exc


def _raise_db_error(exc: Exception) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from floorwatch.storage.db import SchemaOutdatedError

    if isinstance(exc, SchemaOutdatedError):
        raise _fail(str(exc), EXIT_DB_ERROR) from exc
    if isinstance(exc, SQLAlchemyError):
        raise _fail(f"database: {exc}", EXIT_DB_ERROR) from exc


def register(app: typer.Typer) -> None:
    """Add ``replay`` and ``watch`` to the ``floorwatch`` command."""
    app.command("replay")(replay)
    app.command("watch")(watch)

