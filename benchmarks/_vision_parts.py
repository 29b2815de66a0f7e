"""Helpers of ``benchmarks/vision.py``: RSS sampling, looped video, profiling (batching: ``vision/batching.py``)."""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

# (file suffix, function) -> stage name, for the per-stage profile table.
PROFILE_STAGES: list[tuple[str, str, str]] = [
    ("vision/pipeline.py", "step", "pipeline step (all stages)"),
    ("ultralytics/engine/model.py", "predict", "  YOLO.predict (inside Detector.predict)"),
    ("vision/detections.py", "from_ultralytics", "  Detections.from_ultralytics"),
    ("vision/tracker.py", "update", "  Tracker.update (NMS + ByteTrack)"),
    ("vision/rules.py", "step", "  zone rules (ZoneRuleEngine.step)"),
    ("vision/evidence.py", "push", "  evidence ring + open clips (EvidenceRecorder.push)"),
    ("vision/evidence.py", "attach", "  evidence snapshot + clip start (EvidenceRecorder.attach)"),
    ("vision/pipeline.py", "_publish_alert", "  publish (in-process bus + SQLite)"),
    ("vision/sources.py", "__iter__", "waiting for the next decoded frame (FrameSource.__iter__)"),
]


def rss_mib() -> float | None:
    """Resident set size of this process in MiB (``VmRSS`` of /proc/self/status; None off Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for row in fh:
                if row.startswith("VmRSS:"):
                    return int(row.split()[1]) / 1024
    except OSError:
        pass
    return None


def slope_per_1000(xs: list[int], ys: list[float]) -> float | None:
    """Least-squares slope of ``ys`` over ``xs``, per 1000 x (None with fewer than 3 points)."""
    if len(xs) < 3 or len(set(xs)) < 2:
        return None
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0] * 1000)


def latency_ms(events: list[Any], phase: str | None = "started") -> tuple[int, float | None, float | None]:
    """(count, p50, p95) of captured_at -> published_at over alert events (of one phase, or all)."""
    vals = [
        (e.latency.published_at - e.latency.captured_at).total_seconds() * 1000
        for e in events
        if e.kind == "alert"
        and e.latency is not None
        and e.latency.published_at is not None
        and (phase is None or e.phase == phase)
    ]
    if not vals:
        return 0, None, None
    return len(vals), float(np.percentile(vals, 50)), float(np.percentile(vals, 95))


def predecode(video: str, n: int, start: int = 0) -> tuple[list[np.ndarray], float]:
    """Frames ``start`` .. ``start + n - 1`` of ``video`` decoded into memory, and the video's frame rate.

    Raises:
        SystemExit: the video cannot be opened or has no frame.
    """
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS) or 10.0
    frames: list[np.ndarray] = []
    index = 0
    while len(frames) < n:
        ok, image = cap.read()
        if not ok or image is None:
            break
        if index >= start:
            frames.append(image)
        index += 1
    cap.release()
    if not frames:
        raise SystemExit(f"--video {video!r}: cannot be opened or has no decodable frame at or after {start}")
    return frames, float(fps if 0 < fps < 1000 else 10.0)


def write_looped(frames: list[np.ndarray], loops: int, fps: float, path: Path) -> Path:
    """Write ``frames`` ``loops`` times into one MJPG AVI at ``fps`` (one long source for the RSS run)."""
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise SystemExit(f"cannot write the looped video {path} (OpenCV MJPG writer unavailable)")
    try:
        for _ in range(loops):
            for image in frames:
                writer.write(image)
    finally:
        writer.release()
    return path


def profile_stages(
    run: Callable[[], Any], frames: Callable[[], int]
) -> tuple[list[tuple[str, float, float]], str]:
    """Run ``run()`` under cProfile (this thread only) and return per-stage (name, ms/frame, share of step).

    Also returns the top-15 functions by own time as text, for the console.
    """
    prof = cProfile.Profile()
    prof.enable()
    try:
        run()
    finally:
        prof.disable()
    st = pstats.Stats(prof)
    n = max(1, frames())
    cum: dict[tuple[str, str], float] = {}
    for (filename, _line, func), (_cc, _nc, _tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        for suffix, name, _label in PROFILE_STAGES:
            if func == name and filename.replace("\\", "/").endswith(suffix):
                cum[(suffix, name)] = cum.get((suffix, name), 0.0) + ct
    step = cum.get(("vision/pipeline.py", "step"), 0.0) or 1e-9
    rows = [
        (label, 1000 * cum.get((s, f), 0.0) / n, cum.get((s, f), 0.0) / step)
        for s, f, label in PROFILE_STAGES
    ]
    import io

    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
    return rows, buf.getvalue()
