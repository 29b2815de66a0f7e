"""Cost of the Prometheus metrics on the vision path: pipeline / raw ratio with and without telemetry.

Usage (CPU, ~3-6 min on a 2-core machine)::

    .venv/bin/python benchmarks/metrics_overhead.py --imgsz 320 --frames 150 --rounds 3

On the same ``--frames`` frames of ``--video`` (the window of ``benchmarks/vision.py``, re-encoded once),
with the same detector, in ``--rounds`` interleaved rounds (order rotated each round so load changes on a
shared machine hit every variant): raw ``YOLO.predict`` FPS; the plain pipeline; the pipeline with
:class:`floorwatch.vision.telemetry.VisionTelemetry` hooked in exactly as ``floorwatch watch --metrics-port``
does (timed detector, counting publisher, attached counters) while ``/metrics`` is served and scraped by a
thread every ``--scrape-s`` seconds. Reports both pipeline / raw ratios and their difference, and the process CPU time
per frame of each (less sensitive to other jobs on a shared machine); the load average is printed too. Prints only (copy the figures to RESULTS.md by hand).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe, load_average  # noqa: E402
from _vision_parts import predecode, write_looped  # noqa: E402

from vision import Ctx, build, completed_fps, cpu_ms_per_frame, raw_fps  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def pipeline_fps(ctx: Ctx, n: int, telemetry: Any = None) -> tuple[float, float]:
    """One pipeline run over the benchmark clip; frames completed per second and process CPU ms per frame,
    both after the warm-up."""
    from floorwatch.vision.pipeline import VisionPipeline, camera_for_replay

    camera = camera_for_replay(ctx.source, ctx.settings, "bench", ctx.zones)
    done_at: list[float] = []
    cpu_at: list[float] = []
    detector, publish = ctx.detector, ctx.sink.publish
    if telemetry is not None:
        detector, publish = telemetry.predictor(ctx.detector, camera.id), telemetry.publisher(publish)
    pipe = VisionPipeline(camera, detector, ctx.settings, publish, max_frames=n,
                          on_frame=lambda _f, _d: (done_at.append(time.perf_counter()),
                                                   cpu_at.append(time.process_time())))  # fmt: skip
    if telemetry is not None:
        telemetry.attach(pipe)
    pipe.run()
    return completed_fps(done_at, ctx.args.warmup), cpu_ms_per_frame(cpu_at, ctx.args.warmup)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(REPO / "sample_media" / "vtest.avi"))
    ap.add_argument("--zones", default=str(REPO / "sample_media" / "zones.yaml"))
    ap.add_argument("--model", default="fall")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--start-frame", type=int, default=480, help="vtest.avi: alerts at 495-724")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--scrape-s", type=float, default=1.0, help="seconds between scrapes of /metrics")
    args = ap.parse_args()
    args.ppe_model, args.no_db = "", False

    from floorwatch.metrics import serve_metrics
    from floorwatch.vision.telemetry import VisionTelemetry

    print(describe(), f"load at start {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="fw-bench-metrics-") as tmpname:
        tmp = Path(tmpname)
        ctx = build(args, tmp)
        window, fps = predecode(args.video, args.frames, args.start_frame)
        ctx.source = str(write_looped(window, 1, fps, tmp / "window.avi"))
        frames, _ = predecode(ctx.source, len(window))
        telemetry = VisionTelemetry()
        server = serve_metrics(telemetry.registry, 0)
        stop, scrapes = threading.Event(), [0]

        def scrape() -> None:
            while not stop.wait(args.scrape_s):
                httpx.get(server.url, timeout=5)
                scrapes[0] += 1

        threading.Thread(target=scrape, daemon=True).start()
        got: dict[str, list[float]] = {"raw": [], "plain": [], "metrics": []}
        cpu: dict[str, list[float]] = {"raw": [], "plain": [], "metrics": []}
        variants = ["raw", "plain", "metrics"]
        try:
            for r in range(args.rounds):
                for what in variants[r % 3:] + variants[: r % 3]:
                    if what == "raw":
                        fps_, cpu_ = raw_fps(ctx, frames)
                    else:
                        fps_, cpu_ = pipeline_fps(ctx, len(frames), telemetry if what == "metrics" else None)
                    got[what].append(fps_)
                    cpu[what].append(cpu_)
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} fps {cpu[k][-1]:.0f} CPU-ms/frame"
                                                     for k, v in got.items()), flush=True)  # fmt: skip
        finally:
            stop.set()
            server.close()
            ctx.sink.close()
    raw = float(np.mean(got["raw"]))
    plain = [p / q for p, q in zip(got["plain"], got["raw"], strict=True)]
    metr = [p / q for p, q in zip(got["metrics"], got["raw"], strict=True)]
    print(f"{len(frames)} frames, imgsz {args.imgsz}, device {ctx.detector.device}, {args.rounds} rounds, "
          f"{scrapes[0]} scrapes of /metrics")  # fmt: skip
    print(f"raw {raw:.2f} fps; pipeline/raw plain {np.mean(plain):.3f} (rounds {[round(x, 3) for x in plain]}); "
          f"with metrics {np.mean(metr):.3f} (rounds {[round(x, 3) for x in metr]}); "
          f"difference {np.mean(metr) - np.mean(plain):+.3f}; load at end {load_average()}")  # fmt: skip
    cp, cm = float(np.mean(cpu["plain"])), float(np.mean(cpu["metrics"]))
    print(f"CPU ms/frame (whole process): raw {np.mean(cpu['raw']):.1f}, pipeline plain {cp:.1f}, "
          f"with metrics {cm:.1f} ({100 * (cm - cp) / cp:+.1f} %)")  # fmt: skip


if __name__ == "__main__":
    main()
