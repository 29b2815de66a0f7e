"""Markdown section of ``benchmarks/vision.py``: render the measured figures and append them under ``## Vision``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from _machine import Machine
from _vision_parts import latency_ms

HEADER = "## Vision"
LATENCY_GOAL_MS = 600.0  # p95, CPU at 320 px


def _f(x: float | None, fmt: str = ".1f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _latency_rows(results: dict[str, Any], cpu_320: bool) -> list[str]:
    rows = [
        "| run | phase | alert events | p50, ms | p95, ms | goal p95 < 600 ms (CPU, 320 px) |",
        "|---|---|---|---|---|---|",
    ]
    labels = [("live", "live-paced (native 10 fps)"), ("replay", "replay as fast as possible")]
    labels += [(f"streams{s['k']}", f"{s['k']} live-paced streams") for s in results.get("streams", [])]
    labels += [("rss", "looped replay (RSS run)")]
    for key, name in labels:
        events = results["events"].get(key, [])
        for phase in ("started", None):
            n, p50, p95 = latency_ms(events, phase)
            goal = "-"
            if key == "live" and cpu_320 and p95 is not None:
                goal = "pass" if p95 < LATENCY_GOAL_MS else "**FAIL**"
            rows.append(f"| {name} | {phase or 'all'} | {n} | {_f(p50)} | {_f(p95)} | {goal} |")
    return rows


def _ratio_rows(results: dict[str, Any], goal: float) -> list[str]:
    r = results["ratio"]
    per_raw = ", ".join(f"{x:.2f}" for x in r["raw"])
    per_pipe = ", ".join(f"{x:.2f}" for x in r["pipe"])
    per_ratio = ", ".join(f"{x:.2f}" for x in r["ratios"])
    verdict = "pass" if r["ratio"] >= goal else "**below goal**"
    return [
        "| measure | mean | per round | goal |",
        "|---|---|---|---|",
        f"| raw `YOLO.predict`, frames/s | {r['raw_mean']:.2f} | {per_raw} | |",
        f"| full pipeline, frames/s | {r['pipe_mean']:.2f} | {per_pipe} | |",
        f"| pipeline / raw | **{r['ratio']:.2f}** | {per_ratio} | >= {goal:.2f}: {verdict} |",
        f"| raw: process CPU time per frame (all threads), ms | {np.mean(r['raw_cpu']):.0f} | "
        f"{', '.join(f'{x:.0f}' for x in r['raw_cpu'])} | |",
        f"| pipeline: process CPU time per frame (all threads), ms | {np.mean(r['pipe_cpu']):.0f} | "
        f"{', '.join(f'{x:.0f}' for x in r['pipe_cpu'])} | |",
        f"| raw CPU / pipeline CPU per frame (load-independent) | **{r['cpu_ratio']:.2f}** | | |",
        *(
            [
                f"| pipeline: last frame -> run() returned (evidence flush), ms | {np.mean(r['tail_ms']):.0f} | "
                f"{', '.join(f'{x:.0f}' for x in r['tail_ms'])} | not in frames/s |",
                f"| pipeline: clip frames dropped by the evidence writer | {np.mean(r['evidence_dropped']):.1f} | "
                f"{', '.join(str(x) for x in r['evidence_dropped'])} | |",
            ]
            if "tail_ms" in r
            else []
        ),
    ]


def _profile_rows(results: dict[str, Any]) -> list[str]:
    if "profile" not in results:
        return []
    rows = [
        "",
        "Where the pipeline's main-thread time goes (cProfile over one replay of the same frames; "
        "cumulative time per processed frame, profiler overhead included):",
        "",
        "| stage | ms / frame | share of pipeline step |",
        "|---|---|---|",
    ]
    rows += [f"| {name} | {ms:.1f} | {100 * share:.0f} % |" for name, ms, share in results["profile"]]
    return rows


def _streams_rows(results: dict[str, Any], fps: float) -> list[str]:
    streams = results.get("streams", [])
    if not streams:
        return []
    rows = [
        "",
        f"Concurrent live-paced streams ({fps:g} fps each) through ONE detector (micro-batched):",
        "",
        "| streams | processed | dropped | drop % | per-stream fps min / mean | mean batch |",
        "|---|---|---|---|---|---|",
    ]
    rows += [
        f"| {s['k']} | {s['processed']} | {s['dropped']} | {s['drop_pct']:.1f} | "
        f"{s['fps_min']:.2f} / {s['fps_mean']:.2f} | {s['batch_mean']:.2f} |"
        for s in streams
    ]
    ok = [s["k"] for s in streams if s["drop_pct"] <= 1.0]
    rows += [
        "",
        f"Streams at {fps:g} fps with <= 1 % dropped: "
        + (f"**{max(ok)}** (largest tested K that kept up)" if ok else "**none of the tested K** kept up"),
    ]
    return rows


def _rss_rows(results: dict[str, Any], loops: int) -> list[str]:
    if "rss" not in results:
        return []
    m = results["rss"]
    return [
        "",
        f"Memory: ONE pipeline over the frames looped {loops} times ({m['frames']} frames, "
        f"{m['fps']:.2f} frames/s, {m['samples']} samples):",
        "",
        "| RSS start, MiB | end | max | slope, MiB / 1000 frames | slope after the first loop |",
        "|---|---|---|---|---|",
        f"| {m['start']:.0f} | {m['end']:.0f} | {m['max']:.0f} | {_f(m['slope'], '.2f')} | "
        f"{_f(m['slope_after_first_loop'], '.2f')} |",
    ]


def render(args: argparse.Namespace, machine: Machine, results: dict[str, Any]) -> str:
    """The run's Markdown subsection (only measured figures)."""
    ls, le = results["load_start"], results["load_end"]
    load = (
        (
            f"load average (1/5/15 min) {ls[0]:.2f}/{ls[1]:.2f}/{ls[2]:.2f} at start, "
            f"{le[0]:.2f}/{le[1]:.2f}/{le[2]:.2f} at end"
        )
        if ls and le
        else "load average unavailable"
    )
    device = results["device"]
    cpu_320 = device == "cpu" and args.imgsz == 320
    live = results["live"]
    lines = [
        "",
        f"### {machine.date_utc:%Y-%m-%d %H:%M} UTC — model `{args.model}`, imgsz {args.imgsz}, device {device}"
        + (f", PPE model `{args.ppe_model}` on the same frames" if getattr(args, "ppe_model", "") else ""),
        "",
        f"Machine: {machine.line()}; {args.threads} torch threads. Load during the run: {load} (the benchmark "
        "itself keeps ~2 cores busy; more means other processes shared the machine, and absolute rates are then "
        "lower and noisier); raw and pipeline rounds are interleaved so both see the same load.",
        f"Data: frames {args.start_frame}-{args.start_frame + results['n'] - 1} of `{Path(args.video).name}` "
        f"({results['video_fps']:g} fps; re-encoded once to an MJPG clip that both raw and pipeline read), zones "
        f"`{Path(args.zones).name}`, first {args.warmup} frames of every run excluded from FPS; pipeline = "
        f"FrameSource thread -> Detector -> ByteTrack -> rules -> evidence (background writer thread) -> in-process bus"
        f"{'' if args.no_db else ' -> SQLite'}. Run took {results['wall_s']:.0f} s "
        f"(`benchmarks/vision.py --model {args.model} --imgsz {args.imgsz}"
        + (f" --ppe-model {args.ppe_model}" if getattr(args, "ppe_model", "") else "")
        + f" --frames {args.frames} --start-frame {args.start_frame} --rounds {args.rounds} --loops {args.loops} "
        f"--streams {','.join(map(str, args.streams))} --device {args.device}`).",
        "",
        *_ratio_rows(results, args.goal),
        *_profile_rows(results),
        "",
        "Frame -> alert latency (`latency.captured_at` -> `latency.published_at` of published alert events):",
        "",
        *_latency_rows(results, cpu_320),
        "",
        f"Live-paced source (realtime, native {results['video_fps']:g} fps, queue of 4, oldest dropped): "
        f"{live['processed']} frames processed, {live['dropped']} dropped ({live['drop_pct']:.1f} %), "
        f"{live['fps']:.2f} processed frames/s.",
        *_streams_rows(results, results["video_fps"]),
        *_rss_rows(results, args.loops),
    ]
    return "\n".join(lines) + "\n"


def write_section(out: Path, text: str, header: str = "") -> None:
    """Append ``text`` at the end of the ``header`` section (default ``## Vision``) of ``out`` (created if absent)."""
    head = header or HEADER
    body = out.read_text(encoding="utf-8") if out.exists() else "# Benchmark results\n"
    start = body.find(f"\n{head}\n")
    if start < 0:
        new = (
            body.rstrip("\n")
            + f"\n\n{head}\n\nMeasured by `benchmarks/vision.py` (method in its docstring).\n"
            + text
        )
    else:
        nxt = body.find("\n## ", start + len(head) + 2)
        end = len(body) if nxt < 0 else nxt
        new = body[:end].rstrip("\n") + "\n" + text + ("" if nxt < 0 else "\n" + body[end:].lstrip("\n"))
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(out)
