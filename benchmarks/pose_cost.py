"""Pipeline cost with and without pose (person_down), side by side, at several input sizes; live 10 fps drops.

Usage::

    .venv/bin/python benchmarks/pose_cost.py --imgsz 320 --rounds 2 --out benchmarks/RESULTS.md
    .venv/bin/python benchmarks/pose_cost.py --live --imgsz 320 640 --out benchmarks/RESULTS.md

**Cost** (default): on one clip (default: the dorm fall of ``../shared/data/video/falls``, a walk and a fall:
pose runs where ``person_down`` asks for it, i.e. around the fall and while the person is down), the full
pipeline (``VisionPipeline``: reader, detector, ByteTrack, rules, no evidence, no database) processes every
frame (default configuration; ``--fps-limit`` to skip) with ``pose=False`` and ``pose=True`` in interleaved
rounds (off/on, then on/off, ...) so load changes on a shared machine hit both. Figures: CPU milliseconds of
this process per frame (``time.process_time``: less sensitive to other processes than wall time) and their
ratio on/off (the goal: <= 1.5 at 320 px), frames/s of wall time, and the pose model's own time: per frame
where it ran and per crop.

**Live** (``--live``): the clip (default: the lab clip, 52 s, up to three people, a fall and a get-up) is
re-encoded once at 10 fps (every round(fps / 10)-th frame, MJPG) and replayed paced at 10 fps through the
bounded drop-oldest queue, exactly like a live camera, pose off and on: frames processed and dropped (goal
with pose on: < 5 % dropped). Torch and LiteRT use ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FALLS = REPO.parent / "shared" / "data" / "video" / "falls"
CLIP = FALLS / "fall_dorm_sideview_backward.mp4"
LIVE_CLIP = FALLS / "fall_lab_wideangle_trip_getup.avi"


def run_once(clip: Path, imgsz: int, pose: bool, detector, fps_limit: float | None, realtime: bool = False,
             threads: int = 1) -> dict:  # type: ignore[no-untyped-def]
    """Figures of one pipeline run."""
    from floorwatch.config import CameraConfig, Settings
    from floorwatch.vision.pipeline import VisionPipeline

    settings = Settings()
    det_cfg = settings.detector.model_copy(update={"imgsz": imgsz, "pose": settings.detector.pose.model_copy(
        update={"threads": threads})})
    settings = settings.model_copy(update={"detector": det_cfg})
    cam = CameraConfig(id="bench", source=str(clip), fps_limit=fps_limit)
    p = VisionPipeline(cam, detector, settings, lambda e: None, evidence=False, pose=pose, realtime=realtime,
                       start_time=datetime(2026, 1, 1, tzinfo=UTC))
    cpu0 = time.process_time()
    stats = p.run()
    cpu = time.process_time() - cpu0
    return {"fps": stats.fps, "frames": stats.frames, "dropped": stats.frames_dropped,
            "cpu_ms": 1000 * cpu / max(stats.frames, 1), "pose_runs": p.pose.runs if p.pose is not None else 0,
            "pose_s": p.pose.seconds if p.pose is not None else 0.0}


def ten_fps_copy(clip: Path, out: Path) -> tuple[Path, int]:
    """Every round(fps / 10)-th frame of ``clip`` written as a 10 fps MJPG; returns (path, frames)."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    step = max(1, round((cap.get(cv2.CAP_PROP_FPS) or 10.0) / 10.0))
    writer, n, i = None, 0, 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if i % step == 0:
            if writer is None:
                writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (img.shape[1], img.shape[0]))
            writer.write(img)
            n += 1
        i += 1
    if writer is None:
        raise RuntimeError(f"{clip}: no frame could be decoded")
    writer.release()
    return out, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path)
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--fps-limit", type=float, default=None, help="camera fps_limit (default: every frame)")
    ap.add_argument("--live", action="store_true", help="live-paced 10 fps replay: dropped frames, pose off/on")
    ap.add_argument("--threads", type=int, default=1, help="torch and LiteRT threads")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    clip = args.clip or (LIVE_CLIP if args.live else CLIP)
    if not clip.is_file():
        print(f"error: clip {clip} not found", file=sys.stderr)
        return 2
    import cv2

    from floorwatch.config import DetectorConfig
    from floorwatch.runtime import configure_offline, set_threads
    from floorwatch.vision.pose import PoseEstimator
    from floorwatch.vision.service import build_detector

    configure_offline()
    set_threads(args.threads, 1)
    load0 = os.getloadavg()
    cap = cv2.VideoCapture(str(clip))
    ok, img = cap.read()
    est = PoseEstimator(threads=args.threads)
    h, w = img.shape[:2]
    est.estimate(img, (0, 0, w, h))
    t0 = time.perf_counter()
    for _ in range(20):
        est.estimate(img, (0, 0, w, h))
    crop_ms = (time.perf_counter() - t0) / 20 * 1000
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _machine import report  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory() as tmp:
        source, n_live = ten_fps_copy(clip, Path(tmp) / "live10.avi") if args.live else (clip, 0)
        rows = []
        for imgsz in args.imgsz:
            cfg = DetectorConfig(imgsz=imgsz)
            det = build_detector(cfg)
            det.warmup()
            res: dict[bool, list[dict]] = {False: [], True: []}
            for r in range(args.rounds):
                for pose in ((False, True) if r % 2 == 0 else (True, False)):
                    res[pose].append(run_once(source, imgsz, pose, det, args.fps_limit, args.live, args.threads))
                    print(imgsz, pose, res[pose][-1], f"load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
            rows.append((imgsz, res))
    mean = lambda runs, k: float(np.mean([x[k] for x in runs]))  # noqa: E731
    if args.live:
        table = ("| imgsz | frames at 10 fps | pose | processed | dropped | dropped % | frames with pose |\n"
                 "|---|---|---|---|---|---|---|\n")
        for imgsz, res in rows:
            for pose in (False, True):
                proc, drop = mean(res[pose], "frames"), mean(res[pose], "dropped")
                table += (f"| {imgsz} | {n_live} | {'on' if pose else 'off'} | {proc:.0f} | {drop:.0f} | "
                          f"{100 * drop / max(proc + drop, 1):.1f} | {mean(res[pose], 'pose_runs'):.0f} |\n")
        head = f"### pose_cost.py --live: {clip.name} at 10 fps, live-paced, {args.rounds} round(s) per setting"
    else:
        table = ("| imgsz | frames | frames with pose | CPU ms/frame pose off | CPU ms/frame pose on | on / off "
                 "| fps off | fps on | pose ms per frame with pose |\n|---|---|---|---|---|---|---|---|---|\n")
        for imgsz, res in rows:
            off, on = mean(res[False], "cpu_ms"), mean(res[True], "cpu_ms")
            runs = mean(res[True], "pose_runs")
            per = 1000 * mean(res[True], "pose_s") / max(runs, 1)
            table += (f"| {imgsz} | {res[True][0]['frames']} | {runs:.0f} | {off:.1f} | {on:.1f} | {on / off:.2f} | "
                      f"{mean(res[False], 'fps'):.2f} | {mean(res[True], 'fps'):.2f} | {per:.1f} |\n")
        head = (f"### pose_cost.py: {clip.name}, fps_limit {args.fps_limit or 'none (every frame)'}, "
                f"{args.rounds} interleaved rounds")
    report(head, load0, table.rstrip("\n"), args.out,
           f"; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {args.threads} thread(s); pose model alone: {crop_ms:.1f} ms per crop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
