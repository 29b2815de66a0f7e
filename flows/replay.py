"""Prefect flow: replay a recorded video through the vision pipeline (thin wrapper over the library)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from floorwatch.config import load_settings, load_zones_file


@task(retries=2, retry_delay_seconds=5, timeout_seconds=60)
def check_video(path: str) -> str:
    """Fail fast (with the source and the problem) when the video cannot be read; retried for network mounts."""
    from floorwatch.vision.sources import FrameSource

    source = FrameSource(path).open()
    source.close()
    return path


@task(retries=1, retry_delay_seconds=30, timeout_seconds=6 * 3600)
def run_replay(
    path: str, camera_id: str | None, zones_file: str | None, model: str | None, imgsz: int | None,
    config_path: str | None, max_frames: int | None,
) -> dict[str, Any]:
    """Run the pipeline; a retry is safe because alert and event ids are deterministic."""
    from floorwatch.vision import service

    settings = load_settings(config_path)
    zones = load_zones_file(zones_file) if zones_file else None
    service.apply_runtime(settings)
    detector = service.build_detector(service.detector_config(settings, model, imgsz))
    stats = service.replay(path, settings, camera_id=camera_id, zones=zones, detector=detector, max_frames=max_frames)
    return stats.as_dict()


@flow(name="replay-video", log_prints=True)
def replay_video(
    path: str,
    camera_id: str = "replay",
    zones_file: str | None = None,
    model: str | None = None,
    imgsz: int | None = None,
    config_path: str | None = None,
    max_frames: int | None = None,
) -> dict[str, Any]:
    """Replay ``path`` as camera ``camera_id`` and store its alerts; returns the run summary."""
    logger = get_run_logger()
    check_video(str(Path(path)))
    summary = run_replay(path, camera_id, zones_file, model, imgsz, config_path, max_frames)
    logger.info("replay of %s: %s", path, summary)
    return summary
