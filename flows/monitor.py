"""Prefect flow: watch one live camera for a long time (thin wrapper over ``floorwatch.vision.service``).

The task restarts the pipeline after a crash (retries with growing delays); outages of the stream itself
are handled inside the source (reconnect with backoff) and recorded as outage events.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task

from floorwatch.config import load_settings


@task(retries=5, retry_delay_seconds=[10, 30, 60, 120, 300], timeout_seconds=None)
def watch_camera(camera_id: str, config_path: str | None, max_frames: int | None, heartbeat_s: float) -> dict[str, Any]:
    """Run the camera's pipeline, logging a heartbeat with its stats every ``heartbeat_s`` seconds."""
    from floorwatch.vision import service

    logger = get_run_logger()
    settings = load_settings(config_path)
    service.apply_runtime(settings)
    stats = service.monitor(
        settings, camera_id, max_frames=max_frames, heartbeat_s=heartbeat_s,
        on_heartbeat=lambda beat: logger.info("heartbeat %s", beat),
    )
    return stats.as_dict()


@flow(name="monitor-camera", log_prints=True)
def monitor_camera(
    camera_id: str, config_path: str | None = None, max_frames: int | None = None, heartbeat_s: float = 30.0
) -> dict[str, Any]:
    """Watch camera ``camera_id`` of the configuration until cancelled (or ``max_frames``); returns its stats."""
    summary = watch_camera(camera_id, config_path, max_frames, heartbeat_s)
    get_run_logger().info("camera %s stopped: %s", camera_id, summary)
    return summary
