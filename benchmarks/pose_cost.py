"""Pipeline frames/s with and without pose (person_down), side by side, at several input sizes.

Usage::

    .venv/bin/python benchmarks/pose_cost.py --imgsz 320 640 --rounds 2 --out benchmarks/RESULTS.md

On one clip (default: the dorm fall of ``../shared/data/video/falls``, a walk and a fall: pose runs where
``person_down`` asks for it, i.e. around the fall and while the person is down), the full pipeline
(``VisionPipeline``: reader, detector, ByteTrack, rules, no evidence, no database) runs with ``pose=False`` and
``pose=True`` in interleaved rounds (off/on, then on/off, ...) so load changes on a shared machine hit both;
figures are frames per second of wall time and the ratio on/off. Also the pose model alone: milliseconds per
crop. Torch and LiteRT use one thread each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "data" / "video" / "falls" / "fall_dorm_sideview_backward.mp4"


def run_once(clip: Path, imgsz: int, pose: bool, detector, fps_limit: float | None) -> tuple[float, int, int]:  # type: ignore[no-untyped-def]
    """(frames/s, frames, pose runs) of one pipeline run."""
    from floorwatch.config import CameraConfig, Settings
    from floorwatch.vision.pipeline import VisionPipeline

    settings = Settings()
    settings = settings.model_copy(update={"detector": settings.detector.model_copy(update={"imgsz": imgsz})})
    cam = CameraConfig(id="bench", source=str(clip), fps_limit=fps_limit)
    p = VisionPipeline(cam, detector, settings, lambda e: None, evidence=False, pose=pose,
                       start_time=datetime(2026, 1, 1, tzinfo=UTC))
    stats = p.run()
    return stats.fps, stats.frames, p.pose.runs if p.pose is not None else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=CLIP)
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--fps-limit", type=float, default=10.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not args.clip.is_file():
        print(f"error: clip {args.clip} not found", file=sys.stderr)
        return 2
    import cv2
    import torch

    torch.set_num_threads(1)
    from floorwatch.config import DetectorConfig
    from floorwatch.vision.pose import PoseEstimator
    from floorwatch.vision.service import build_detector

    load0 = os.getloadavg()
    cap = cv2.VideoCapture(str(args.clip))
    ok, img = cap.read()
    est = PoseEstimator(threads=1)
    h, w = img.shape[:2]
    est.estimate(img, (0, 0, w, h))
    t0 = time.perf_counter()
    for _ in range(20):
        est.estimate(img, (0, 0, w, h))
    crop_ms = (time.perf_counter() - t0) / 20 * 1000
    rows = []
    for imgsz in args.imgsz:
        det = build_detector(DetectorConfig(imgsz=imgsz))
        off: list[float] = []
        on: list[float] = []
        runs = frames = 0
        for r in range(args.rounds):
            order = (False, True) if r % 2 == 0 else (True, False)
            for pose in order:
                fps, frames, n = run_once(args.clip, imgsz, pose, det, args.fps_limit)
                (on if pose else off).append(fps)
                runs = max(runs, n)
        rows.append((imgsz, float(np.mean(off)), float(np.mean(on)), frames, runs))
        print(rows[-1], file=sys.stderr)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _machine import report  # type: ignore[import-not-found]

    table = ("| imgsz | frames | frames with pose | fps pose off | fps pose on | on / off |\n|---|---|---|---|---|---|\n"
             + "\n".join(f"| {s} | {n} | {k} | {a:.2f} | {b:.2f} | {b / a:.2f} |" for s, a, b, n, k in rows))
    report(f"### pose_cost.py: {args.clip.name}, fps_limit {args.fps_limit}, {args.rounds} interleaved rounds",
           load0, table, args.out, f"; pose model alone: {crop_ms:.1f} ms per crop (1 thread)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
