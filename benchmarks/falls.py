"""person_down on real falls: first alert start against the labelled fall, and false alerts on no-fall clips.

Usage::

    .venv/bin/python benchmarks/falls.py                      # default config: fall model, imgsz 640
    .venv/bin/python benchmarks/falls.py --fps-limit 10 --imgsz 640 --no-pose --out benchmarks/RESULTS.md

Two stages, so the rule can be re-evaluated without re-running the detector:

1. **detect**: each clip through the real pipeline's detector + ByteTrack (``VisionPipeline`` with the
   camera's ``fps_limit``); the tracked people of every processed frame, and the person boxes below
   ``detector.conf`` down to ``detector.recheck_conf`` of the same inference, are cached as JSON lines under
   ``--cache`` (keyed by clip, model, input size and frame limit).
2. **rules**: the cached tracks, frame by frame, through the camera's zone engine (whole frame,
   ``person_down`` with its default settings) with the pipeline's pose stage on the decoded frames
   (``--no-pose`` skips it) and the weak boxes (``--no-recheck`` leaves them out), exactly as
   ``VisionPipeline.step`` feeds them.

Scored per fall clip (``../shared/data/video/falls/labels.csv``): the first ``person_down`` start
against the onset and the first lying frame (goal: onset <= start <= lying + 2 s), the number of starts
(goal: exactly 1) and starts after a get-up (goal: 0), and the share of the labelled lying time
(first lying frame to the get-up or the clip's end) during which a ``person_down`` alert is open ("down
covered": a fallen person the detector loses should not vanish). On the no-fall clips (the crowd clip,
``sample_media/vtest.avi``, ``../shared/data/video/one-by-one-person-detection.mp4``) every start is a
false alarm (goal: 0).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "video"
FALLS = DATA / "falls"
NOFALL = [FALLS / "nofall_crowd_overhead_walking.mp4", REPO / "sample_media" / "vtest.avi",
          DATA / "one-by-one-person-detection.mp4"]
WINDOW_AFTER_LYING_S = 2.0


def _labels() -> list[dict[str, str]]:
    with (FALLS / "labels.csv").open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["label"] == "fall"]


def _cache_file(cache: Path, clip: Path, model: str, imgsz: int, fps_limit: float | None) -> Path:
    return cache / f"{clip.name}.{model}.{imgsz}.fps{fps_limit or 'all'}.v2.jsonl"


class _KeepWeak:
    """The detector as the pipeline sees it, remembering the weak person boxes of its last call."""

    def __init__(self, inner, conf: float):  # type: ignore[no-untyped-def]
        self.inner, self.conf, self.weak = inner, conf, []

    def predict(self, frames, min_conf=None):  # type: ignore[no-untyped-def]
        from floorwatch.vision.recheck import split_low

        out = self.inner.predict(frames, min_conf=min_conf)
        self.weak = [split_low(d, self.conf)[1] for d in out]
        return out


def detect(clip: Path, out: Path, model: str, imgsz: int, fps_limit: float | None) -> float:
    """Stage 1: cache the tracked people of every processed frame; returns seconds spent."""
    from floorwatch.config import CameraConfig, Settings
    from floorwatch.vision.output import track_record
    from floorwatch.vision.pipeline import VisionPipeline
    from floorwatch.vision.service import build_detector

    settings = Settings()
    settings = settings.model_copy(update={"detector": settings.detector.model_copy(
        update={"model": model, "imgsz": imgsz, "pose": settings.detector.pose.model_copy(update={"enabled": False})})})
    cam = CameraConfig(id="bench", source=str(clip), fps_limit=fps_limit)
    tmp = out.with_suffix(".part")
    t0 = time.perf_counter()
    detector = _KeepWeak(build_detector(settings.detector), settings.detector.conf)
    with tmp.open("w") as fh:
        def on_frame(frame, dets) -> None:  # type: ignore[no-untyped-def]
            rec = track_record(frame.index, frame.video_ts, dets)
            rec["weak"] = track_record(frame.index, frame.video_ts, detector.weak[0])["detections"]
            fh.write(json.dumps(rec) + "\n")

        VisionPipeline(cam, detector, settings, lambda e: None, on_frame=on_frame,
                       evidence=False, start_time=datetime(2026, 1, 1, tzinfo=UTC)).run()
    tmp.rename(out)
    return time.perf_counter() - t0


def detect_in_pieces(clip: Path, out: Path, model: str, imgsz: int, fps_limit: float | None, piece: int) -> bool:
    """Stage 1 for a clip too long for one command on a loaded box: the same stages as ``VisionPipeline.step``
    (``FrameSource`` -> ``Detector.predict`` at ``detector.recheck_conf`` -> split at ``detector.conf`` ->
    ByteTrack at the pipeline's frame rate) in two steps. (a) Raw detections of at most ``piece`` more frames
    are appended to ``<out>.raw`` (resumable: frames already there are decoded and skipped). (b) Once every
    frame is there, the tracker runs over them and ``out`` is written. Returns True when ``out`` exists."""
    from floorwatch.config import Settings
    from floorwatch.vision.detections import Detections
    from floorwatch.vision.output import track_record
    from floorwatch.vision.recheck import split_low
    from floorwatch.vision.service import build_detector
    from floorwatch.vision.sources import FrameSource
    from floorwatch.vision.tracker import Tracker

    cfg = Settings().detector.model_copy(update={"model": model, "imgsz": imgsz})
    raw = out.with_suffix(".raw")
    done = len(raw.read_text().splitlines()) if raw.is_file() else 0
    src = FrameSource(str(clip), camera_id="bench", fps_limit=fps_limit)
    src.open()
    fps = src.fps or 10.0
    step = max(1, round(fps / fps_limit)) if fps_limit else 1
    finished, n = True, 0
    det = None
    with raw.open("a") as fh:
        for i, frame in enumerate(src):
            if i < done:
                continue
            if n >= piece:
                finished = False
                break
            det = det or build_detector(cfg)
            (d,) = det.predict([frame.image], min_conf=cfg.recheck_conf)
            fh.write(json.dumps(track_record(frame.index, frame.video_ts, d) | {
                "class_id": d.class_id.tolist()}) + "\n")
            n += 1
    src.close()
    if not finished:
        return False
    tracker = Tracker(frame_rate=fps / step)
    tmp = out.with_suffix(".part")
    with tmp.open("w") as fh:
        for line in raw.read_text().splitlines():
            r = json.loads(line)
            rows = r["detections"]
            d = Detections.empty() if not rows else Detections(
                xyxy=np.array([x["bbox"] for x in rows], np.float32), confidence=[x["confidence"] for x in rows],
                class_id=r["class_id"], label=[x["label"] for x in rows])
            high, weak = split_low(d, cfg.conf)
            rec = track_record(r["frame"], r["video_ts"], tracker.update(high))
            rec["weak"] = track_record(r["frame"], r["video_ts"], weak)["detections"]
            fh.write(json.dumps(rec) + "\n")
    tmp.rename(out)
    return True


def evaluate(clip: Path, cached: Path, use_pose: bool, use_weak: bool = True) -> tuple[list[tuple[float, float]], int, float]:
    """Stage 2: rules (+ pose, + weak boxes) over the cached tracks. Returns ((start, end) video_ts of every
    person_down alert, frames, seconds spent in pose)."""
    from floorwatch.config import PoseConfig
    from floorwatch.vision.detections import Detections
    from floorwatch.vision.pose import PoseEstimator, PoseStage
    from floorwatch.vision.rules import Observation, engines_for_camera

    records = [json.loads(line) for line in cached.read_text().splitlines()]
    cap = cv2.VideoCapture(str(clip))
    wh = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    engines = engines_for_camera("bench", str(clip), [], wh)
    stage = PoseStage(PoseEstimator(threads=1), PoseConfig()) if use_pose else None
    alerts: dict[str, list[float]] = {}
    raw_index, image = -1, None
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for rec in records:
        while raw_index < rec["frame"]:
            ok, image = cap.read()
            raw_index += 1
            if not ok:
                raise RuntimeError(f"{clip}: frame {raw_index} cannot be decoded")
        dets = _detections(rec["detections"], Detections)
        weak = _detections(rec.get("weak", []), Detections) if use_weak else None
        poses = stage.run(image, rec["frame"]) if stage is not None else None
        obs = Observation(rec["frame"], rec["video_ts"], t0 + timedelta(seconds=rec["video_ts"]), dets, image,
                          poses=poses, low_people=weak)
        for eng in engines:
            _note(alerts, eng.step(obs))
        if stage is not None:
            stage.plan(engines, obs)
    if records:
        for eng in engines:
            _note(alerts, eng.close(records[-1]["video_ts"], records[-1]["frame"]))
    spans = sorted((v[0], v[-1]) for v in alerts.values())
    return spans, len(records), stage.seconds if stage is not None else 0.0


def _note(alerts: dict[str, list[float]], events) -> None:  # type: ignore[no-untyped-def]
    for e in events:
        if e.rule == "person_down" and e.phase in ("started", "ended"):
            alerts.setdefault(e.alert_id, []).append(e.video_ts)


def _detections(rows: list[dict], cls):  # type: ignore[no-untyped-def]
    if not rows:
        return cls.empty()
    return cls(xyxy=np.array([r["bbox"] for r in rows], np.float32), confidence=[r["confidence"] for r in rows],
               label=[r["label"] for r in rows], track_id=[-1 if r["track_id"] is None else r["track_id"] for r in rows])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fall")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--fps-limit", type=float, default=None, help="camera fps_limit (default: every frame)")
    ap.add_argument("--cache", type=Path, default=REPO / "var" / "bench_falls")
    ap.add_argument("--no-pose", action="store_true")
    ap.add_argument("--no-recheck", action="store_true", help="leave out the weak (below conf) boxes")
    ap.add_argument("--only", nargs="*", help="clip file names to run (default: all)")
    ap.add_argument("--piece", type=int, default=0,
                    help="detect at most this many frames per call (resumable; for long clips on a loaded box)")
    ap.add_argument("--out", type=Path, help="append a Markdown table to this file")
    args = ap.parse_args()
    if not (FALLS / "labels.csv").is_file():
        print(f"error: {FALLS}/labels.csv not found (the shared fall clips)", file=sys.stderr)
        return 2
    args.cache.mkdir(parents=True, exist_ok=True)
    labels = _labels()
    clips = [(FALLS / r["file"], r) for r in labels] + [(p, None) for p in NOFALL]
    if args.only:
        clips = [c for c in clips if c[0].name in args.only]
    rows, load = [], os.getloadavg()
    for clip, lab in clips:
        if not clip.is_file():
            print(f"skip {clip}: not found", file=sys.stderr)
            continue
        cached = _cache_file(args.cache, clip, args.model, args.imgsz, args.fps_limit)
        if not cached.is_file() and args.piece and not detect_in_pieces(
                clip, cached, args.model, args.imgsz, args.fps_limit, args.piece):
            print(f"{clip.name}: {args.piece} more frames detected; run again to go on", file=sys.stderr)
            return 3
        if not cached.is_file():
            secs = detect(clip, cached, args.model, args.imgsz, args.fps_limit)
            print(f"{clip.name}: detected in {secs:.0f} s (load {os.getloadavg()[0]:.1f})", file=sys.stderr)
        spans, frames, pose_s = evaluate(clip, cached, not args.no_pose, not args.no_recheck)
        rows.append(_score(clip, lab, spans, frames, pose_s))
        print(json.dumps(rows[-1]), file=sys.stderr)
    table = _table(rows, args, load)
    print(table)
    if args.out:
        with args.out.open("a") as fh:
            fh.write("\n" + table + "\n")
    return 0


def _score(clip: Path, lab: dict[str, str] | None, spans: list[tuple[float, float]], frames: int,
           pose_s: float) -> dict:
    starts = [a for a, _ in spans]
    row: dict = {"clip": clip.name, "frames": frames, "starts": len(starts),
                 "first_start_s": round(starts[0], 2) if starts else None, "pose_ms_per_frame": round(1000 * pose_s / max(frames, 1), 1)}
    if lab is None:
        row.update(ok=not starts, false_starts=len(starts))
        return row
    onset, lying = float(lab["fall_onset_s"]), float(lab["lying_from_s"])
    getup = float(lab["lying_end_s"]) if lab["lying_end_kind"] == "gets_up" else None
    down_end = float(lab["lying_end_s"])
    covered = sum(max(0.0, min(b, down_end) - max(a, lying)) for a, b in spans) / max(down_end - lying, 1e-6)
    first_ok = bool(starts) and onset <= starts[0] <= lying + WINDOW_AFTER_LYING_S
    before = [s for s in starts if s < onset]
    after_getup = [s for s in starts if getup is not None and s > getup]
    row.update(onset_s=onset, lying_s=lying, delay_after_lying_s=round(starts[0] - lying, 2) if starts else None,
               before_onset=len(before), after_getup=len(after_getup), down_covered=round(covered, 2),
               ok=first_ok and len(starts) == 1)
    return row


def _table(rows: list[dict], args: argparse.Namespace, load: tuple[float, float, float]) -> str:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _machine import describe  # type: ignore[import-not-found]

    head = (f"### falls.py: model {args.model}, imgsz {args.imgsz}, fps_limit {args.fps_limit or 'none'}, "
            f"pose {'off' if args.no_pose else 'on'}, weak-box re-check {'off' if args.no_recheck else 'on'}\n\n"
            f"{describe().line()}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average at start "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n\n"
            "| clip | frames | onset s | lying s | first start s | start - lying s | starts | before onset | after get-up "
            "| down covered | pose ms/frame | ok |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = [
        f"| {r['clip']} | {r['frames']} | {r.get('onset_s', '-')} | {r.get('lying_s', '-')} | {r['first_start_s']} | "
        f"{r.get('delay_after_lying_s', '-')} | {r['starts']} | {r.get('before_onset', '-')} | "
        f"{r.get('after_getup', '-')} | {r.get('down_covered', '-')} | {r['pose_ms_per_frame']} | "
        f"{'yes' if r['ok'] else 'NO'} |"
        for r in rows
    ]
    return head + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
