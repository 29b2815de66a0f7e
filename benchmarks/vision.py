"""Vision pipeline vs raw YOLO in ONE run, plus latency, memory, live-paced drops and streams per device.

Usage (CPU, ~5-8 min on a 2-core machine)::

    .venv/bin/python benchmarks/vision.py --imgsz 320 --frames 250
    .venv/bin/python benchmarks/vision.py --imgsz 640 --frames 60 --loops 2 --streams 1
    .venv/bin/python benchmarks/vision.py --device cuda --frames 600 --streams 1,4,8,16,32   # GPU machine
    .venv/bin/python benchmarks/vision.py --runtime onnxruntime,openvino,openvino:int8 --frames 100 --streams 2

What is measured, on the same ``--frames`` frames of ``--video`` from ``--start-frame`` on (a window with
alerts, re-encoded once to an MJPG clip that raw and pipeline both read), the same model object, input
size and device:

1. raw ``YOLO.predict`` FPS (frames pre-decoded into memory, the detector's own predict arguments,
   ``--warmup`` frames excluded) vs the full pipeline FPS (``FrameSource`` reader thread -> Detector ->
   ByteTrack -> zones/rules of ``--zones`` -> evidence -> in-process bus -> SQLite), both as frames
   completed per second after the warm-up frames, in ``--rounds`` interleaved rounds (raw/pipeline,
   then pipeline/raw, ...) so load changes on a shared machine hit both; ratio = pipeline / raw.
   Below ``--goal`` the pipeline is profiled with cProfile (main thread) and the time per stage listed.
2. frame -> alert latency (``latency.captured_at`` -> ``latency.published_at`` of the published alert
   events): of the live-paced run (the latency a camera sees) and of the as-fast-as-possible replays
   (where frames also wait in the 4-frame reader queue).
3. RSS of one pipeline over the window's frames looped ``--loops`` times (one long MJPG
   source), sampled every ``--rss-every`` frames: start, end, max, slope.
4. a live-paced source (``realtime=True``: the video's native rate through the bounded drop-oldest
   queue): frames processed vs dropped.
5. ``--streams K[,K...]``: K live-paced copies of the video through K pipelines sharing ONE detector via
   a micro-batcher (one ``predict`` per batch of up to K frames); "streams at 10 fps" is the largest K
   whose drop rate stays <= 1 %.

Figures go to ``--out`` (a ``### run`` under ``## Vision``) with the machine, date and load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import describe, load_average  # noqa: E402
from _vision_parts import (  # noqa: E402
    predecode,
    profile_stages,
    rss_mib,
    slope_per_1000,
    write_looped,
)

from floorwatch.vision.batching import BatchedDetector  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Ctx:
    """What every measurement shares: settings, detector, zones, the event sink and collected events."""

    args: argparse.Namespace
    settings: Any
    detector: Any
    zones: list[Any]
    sink: Any
    ppe: Any = None  # the --ppe-model PPEDetector (None = off)
    source: str = ""  # the clip every pipeline run reads (the benchmark window of --video)
    events: dict[str, list[Any]] = field(default_factory=dict)
    label: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_event(self, event: Any) -> None:
        with self.lock:
            self.events.setdefault(self.label, []).append(event)


@dataclass
class Run:
    """One pipeline run: its stats and the completion time of every frame."""

    stats: Any
    done_at: list[float]
    cpu_at: list[float]
    tail_ms: float = 0.0  # last frame done -> run() returned (evidence writer flush, source close)


def completed_fps(done_at: list[float], warmup: int) -> float:
    """Frames completed per second after the first ``warmup`` frames."""
    w = min(max(1, warmup), len(done_at) - 1)
    span = done_at[-1] - done_at[w - 1]
    return (len(done_at) - w) / span if span > 0 else 0.0


def cpu_ms_per_frame(cpu_at: list[float], warmup: int) -> float:
    """CPU time of the whole process (all threads) per frame after the first ``warmup`` frames, in ms."""
    w = min(max(1, warmup), len(cpu_at) - 1)
    return 1000 * (cpu_at[-1] - cpu_at[w - 1]) / (len(cpu_at) - w)


def raw_fps(ctx: Ctx, frames: list[np.ndarray]) -> tuple[float, float]:
    """``YOLO.predict`` on in-memory frames, one call per frame, with the detector's own arguments.

    Returns:
        Frames per second of wall time and process CPU ms per frame, both after the warm-up frames.
    """
    models = [ctx.detector] + ([ctx.ppe.detector] if ctx.ppe is not None else [])  # the pipeline runs both
    done_at, cpu_at = [], []
    for image in frames:
        results = [
            r
            for det in models
            for r in det.model.predict(
                [image], imgsz=det.cfg.imgsz, conf=det.cfg.conf, iou=det.cfg.iou, device=det.device, half=det.half,
                verbose=False,
            )
        ]
        for r in results:  # to host, as any use of the boxes would (also waits for CUDA to finish)
            if r.boxes is not None:
                r.boxes.data.cpu()
        done_at.append(time.perf_counter())
        cpu_at.append(time.process_time())
    return completed_fps(done_at, ctx.args.warmup), cpu_ms_per_frame(cpu_at, ctx.args.warmup)


def pipeline_run(
    ctx: Ctx,
    video: str,
    n: int,
    *,
    realtime: bool = False,
    camera_id: str = "bench",
    detector: Any = None,
    every: int = 0,
    rss: list[tuple[int, float]] | None = None,
) -> Run:
    """One :class:`VisionPipeline` over ``video`` (at most ``n`` frames) publishing to the run's sink."""
    from floorwatch.vision.pipeline import VisionPipeline, camera_for_replay

    camera = camera_for_replay(video, ctx.settings, camera_id, ctx.zones)
    done_at: list[float] = []
    cpu_at: list[float] = []

    def on_frame(frame: Any, _dets: Any) -> None:
        done_at.append(time.perf_counter())
        cpu_at.append(time.process_time())
        if rss is not None and every and len(done_at) % every == 0:
            rss.append((len(done_at), rss_mib() or 0.0))

    pipe = VisionPipeline(
        camera,
        detector or ctx.detector,
        ctx.settings,
        ctx.sink.publish,
        ppe_detector=ctx.ppe,
        realtime=realtime,
        max_frames=n,
        on_frame=on_frame,
    )
    stats = pipe.run()
    tail_ms = 1000 * (time.perf_counter() - done_at[-1]) if done_at else 0.0
    return Run(stats, done_at, cpu_at, tail_ms)


def measure_ratio(ctx: Ctx, frames: list[np.ndarray]) -> dict[str, Any]:
    """Interleaved raw / pipeline rounds on the same frames; per-round and pooled FPS and the ratio."""
    a = ctx.args
    ctx.label = "replay"
    raws, pipes, raw_cpu, pipe_cpu, tails, ev_dropped = [], [], [], [], [], []
    for r in range(a.rounds):
        order = ("raw", "pipe") if r % 2 == 0 else ("pipe", "raw")
        for what in order:
            if what == "raw":
                fps, cpu = raw_fps(ctx, frames)
                raws.append(fps)
                raw_cpu.append(cpu)
            else:
                run = pipeline_run(ctx, ctx.source, len(frames))
                pipes.append(completed_fps(run.done_at, a.warmup))
                pipe_cpu.append(cpu_ms_per_frame(run.cpu_at, a.warmup))
                tails.append(run.tail_ms)
                ev_dropped.append(run.stats.evidence_frames_dropped)
        print(
            f"round {r + 1}: raw {raws[-1]:.2f} fps {raw_cpu[-1]:.0f} CPU-ms/frame, "
            f"pipeline {pipes[-1]:.2f} fps {pipe_cpu[-1]:.0f} CPU-ms/frame",
            flush=True,
        )
    raw_m, pipe_m = float(np.mean(raws)), float(np.mean(pipes))
    return {
        "raw": raws,
        "pipe": pipes,
        "raw_mean": raw_m,
        "pipe_mean": pipe_m,
        "ratio": pipe_m / raw_m,
        "ratios": [p / q for p, q in zip(pipes, raws, strict=True)],
        "raw_cpu": raw_cpu,
        "pipe_cpu": pipe_cpu,
        "cpu_ratio": float(np.mean(raw_cpu) / np.mean(pipe_cpu)),
        "tail_ms": tails,
        "evidence_dropped": ev_dropped,
    }


def measure_live(ctx: Ctx, n: int) -> dict[str, Any]:
    """A live-paced replay (native rate, drop-oldest queue): processed vs dropped and latency."""
    ctx.label = "live"
    run = pipeline_run(ctx, ctx.source, n, realtime=True, camera_id="bench-live")
    s = run.stats
    return {
        "processed": s.frames,
        "dropped": s.frames_dropped,
        "fps": s.fps,
        "drop_pct": 100 * s.frames_dropped / max(1, s.frames + s.frames_dropped),
    }


def measure_rss(ctx: Ctx, frames: list[np.ndarray], fps: float, tmp: Path) -> dict[str, Any]:
    """RSS of ONE pipeline over the frames looped ``--loops`` times."""
    a = ctx.args
    looped = write_looped(frames, a.loops, fps, tmp / "looped.avi")
    ctx.label = "rss"
    samples: list[tuple[int, float]] = [(0, rss_mib() or 0.0)]
    run = pipeline_run(
        ctx, str(looped), len(frames) * a.loops, camera_id="bench-rss", every=a.rss_every, rss=samples
    )
    xs, ys = [x for x, _ in samples], [y for _, y in samples]
    after = [(x, y) for x, y in samples if x >= len(frames)]
    return {
        "frames": run.stats.frames,
        "start": ys[0],
        "end": ys[-1],
        "max": max(ys),
        "samples": len(ys),
        "slope": slope_per_1000(xs, ys),
        "slope_after_first_loop": slope_per_1000([x for x, _ in after], [y for _, y in after]),
        "fps": completed_fps(run.done_at, a.warmup),
    }


def measure_streams(ctx: Ctx, k: int, n: int) -> dict[str, Any]:
    """K live-paced pipelines of the video sharing one detector through a micro-batcher."""
    batcher = BatchedDetector(ctx.detector, max_batch=k, max_wait_s=ctx.args.batch_wait_ms / 1000)
    ctx.label = f"streams{k}"
    runs: dict[int, Run] = {}
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            runs[i] = pipeline_run(
                ctx, ctx.source, n, realtime=True, camera_id=f"bench-s{i}", detector=batcher
            )
        except BaseException as exc:  # reported after the join
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,), name=f"stream-{i}") for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    if errors:
        raise errors[0]
    processed = sum(r.stats.frames for r in runs.values())
    dropped = sum(r.stats.frames_dropped for r in runs.values())
    per_stream = [r.stats.fps for r in runs.values()]
    return {
        "k": k,
        "processed": processed,
        "dropped": dropped,
        "drop_pct": 100 * dropped / max(1, processed + dropped),
        "fps_min": min(per_stream),
        "fps_mean": float(np.mean(per_stream)),
        "batch_mean": float(np.mean(batcher.batch_sizes or [0])),
    }


def measure_profile(ctx: Ctx, n: int) -> tuple[list[tuple[str, float, float]], str]:
    """Per-stage time of one pipeline replay under cProfile."""
    ctx.label = "profile"
    box: dict[str, Run] = {}
    rows, top = profile_stages(
        lambda: box.setdefault("run", pipeline_run(ctx, ctx.source, n, camera_id="bench-prof")),
        lambda: box["run"].stats.frames if "run" in box else 0,
    )
    return rows, top


def build(args: argparse.Namespace, tmp: Path) -> Ctx:
    """Settings (temp media dir and SQLite), the detector (warmed up), the zones and the event sink."""
    from floorwatch.runtime import configure_offline, set_threads

    configure_offline()
    set_threads(args.threads, 1)
    from floorwatch.app import open_publisher
    from floorwatch.config import DetectorConfig, Settings, load_zones_file
    from floorwatch.vision.detector import Detector

    settings = Settings.model_validate(
        {
            "detector": {"model": args.model, "imgsz": args.imgsz, "device": args.device},
            "media": {"dir": str(tmp / "media")},
            "database": {"url": f"sqlite:///{tmp / 'bench.db'}"},
            "runtime": {"torch_threads": args.threads, "opencv_threads": 1},
        }
    )
    detector = Detector(DetectorConfig.model_validate(settings.detector.model_dump()))
    detector.warmup()
    zones = load_zones_file(args.zones)
    ppe = None
    if args.ppe_model:
        from floorwatch.config import MissingPPERule
        from floorwatch.vision.ppe import PPEDetector

        name, _, size = args.ppe_model.partition(":")
        cfg = DetectorConfig.model_validate(
            {**settings.detector.model_dump(), "ppe": {"model": name, "imgsz": int(size or args.imgsz)}}
        )
        settings = settings.model_copy(update={"detector": cfg})
        ppe = PPEDetector(cfg)
        ppe.detector.warmup()
        for zone in zones:  # every zone checks helmets, so the PPE model runs on every frame
            if not any(isinstance(r, MissingPPERule) for r in zone.rules):
                zone.rules.append(MissingPPERule(required=["helmet"]))
    ctx = Ctx(args, settings, detector, zones, sink=None, ppe=ppe)
    ctx.sink = open_publisher(settings, store=not args.no_db, on_event=ctx.on_event)
    return ctx


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    machine = describe()
    load_start = load_average()
    t0 = time.monotonic()
    results: dict[str, Any] = {"load_start": load_start}
    with tempfile.TemporaryDirectory(prefix="fw-bench-vision-") as tmpname:
        tmp = Path(tmpname)
        ctx = build(args, tmp)
        try:
            # The window is re-encoded once (MJPG) and BOTH raw and pipeline use that clip's frames.
            window, fps = predecode(args.video, args.frames, args.start_frame)
            ctx.source = str(write_looped(window, 1, fps, tmp / "window.avi"))
            frames, _ = predecode(ctx.source, len(window))
            del window
            results["n"], results["video_fps"], results["device"] = len(frames), fps, ctx.detector.device
            print(f"{len(frames)} frames, imgsz {args.imgsz}, device {ctx.detector.device}", flush=True)
            if args.runtime:  # detector runtimes side by side instead (see _vision_runtimes.py)
                from _vision_runtimes import compare

                results["runtimes"] = compare(ctx, frames, args.runtimes, args.streams, measure_streams)
                return _write_runtimes(args, machine, results, load_start, len(frames), t0)
            results["ratio"] = measure_ratio(ctx, frames)
            if args.profile or (results["ratio"]["ratio"] < args.goal and not args.no_profile):
                results["profile"], top = measure_profile(ctx, len(frames))
                print(top, flush=True)
            results["live"] = measure_live(ctx, len(frames))
            print(f"live-paced: {results['live']}", flush=True)
            results["streams"] = [measure_streams(ctx, k, len(frames)) for k in args.streams]
            print(f"streams: {results['streams']}", flush=True)
            if args.loops > 0:
                results["rss"] = measure_rss(ctx, frames, fps, tmp)
                print(f"rss: {results['rss']}", flush=True)
        finally:
            ctx.sink.close()
    results["events"], results["load_end"] = ctx.events, load_average()
    results["wall_s"] = time.monotonic() - t0
    from _vision_report import render, write_section

    text = render(args, machine, results)
    print(text)
    if not args.no_write:
        write_section(args.out, text)
        print(f"appended to {args.out}")


def _write_runtimes(args: argparse.Namespace, machine: Any, results: dict[str, Any], load_start: Any, n: int,
                    t0: float) -> None:
    from _vision_report import write_section
    from _vision_runtimes import render

    text = render(args, machine, results["runtimes"], (load_start, load_average()), n, time.monotonic() - t0)
    print(text)
    if not args.no_write:
        write_section(args.out, text, "## Detector runtimes (#17)")
        print(f"appended to {args.out}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(REPO / "sample_media" / "vtest.avi"))
    ap.add_argument("--zones", default=str(REPO / "sample_media" / "zones.yaml"))
    ap.add_argument("--model", default="fall")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument(
        "--ppe-model",
        default="",
        help="NAME[:IMGSZ] of a second, PPE model on the same frames (detector.ppe); adds a missing_ppe "
        "rule (helmet) to every zone and runs both models in the raw baseline too",
    )
    ap.add_argument("--frames", type=int, default=250, help="frames of the video used by every measurement")
    ap.add_argument(
        "--start-frame",
        type=int,
        default=480,
        help="first frame of the window (vtest.avi: alerts at 495-724)",
    )
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved raw/pipeline rounds")
    ap.add_argument("--warmup", type=int, default=5, help="frames excluded from every FPS figure")
    ap.add_argument(
        "--loops", type=int, default=3, help="times the frames are looped for the RSS run (0 = skip)"
    )
    ap.add_argument("--rss-every", type=int, default=25, help="sample RSS every N frames")
    ap.add_argument(
        "--streams",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[1, 2],
        help="comma-separated stream counts, e.g. 1,2 (CPU) or 1,8,16,32 (GPU)",
    )
    ap.add_argument("--batch-wait-ms", type=float, default=20.0, help="micro-batcher wait for more frames")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--goal", type=float, default=0.90, help="pipeline / raw ratio below which to profile")
    ap.add_argument(
        "--profile", action="store_true", help="profile the pipeline even when the ratio meets --goal"
    )
    ap.add_argument("--no-profile", action="store_true", help="never profile")
    ap.add_argument("--no-db", action="store_true", help="publish to no database (events only collected)")
    ap.add_argument(
        "--runtime",
        default="",
        help="compare detector runtimes instead: RUNTIME[:fp32|int8],... e.g. onnxruntime,openvino,openvino:int8 "
        "(torch is always measured first as the baseline)",
    )
    ap.add_argument("--person-images", type=int, default=0, help="--runtime: first N ppe/valid images (0 = all)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    for name in ("video", "zones"):
        if not Path(getattr(args, name)).is_file():
            ap.error(f"--{name} {getattr(args, name)!r}: file not found")
    if args.frames < args.warmup + 10:
        ap.error(f"--frames {args.frames}: need at least --warmup + 10 = {args.warmup + 10}")
    if any(k < 1 for k in args.streams):
        ap.error(f"--streams {args.streams}: every stream count must be >= 1")
    if args.runtime:
        from _vision_runtimes import parse_runtimes

        try:
            args.runtimes = parse_runtimes(args.runtime)
        except ValueError as exc:
            ap.error(str(exc))
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    return args


if __name__ == "__main__":
    main()
