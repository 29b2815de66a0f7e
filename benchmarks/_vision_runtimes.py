"""``benchmarks/vision.py --runtime torch,onnxruntime,openvino,openvino:int8``: detector runtimes side by side.

All runtimes run in ONE process, on the same frames, model, ``--imgsz``, thresholds and threads, so their
ratios hold on a loaded machine (the load average is recorded at start and end). Per runtime:

1. frames/s and process CPU ms per frame of ``Detector.predict`` on the pre-decoded window (one frame a call,
   ``--warmup`` frames excluded), in ``--rounds`` rounds with the runtime order rotated each round;
   speed-up = frames/s / torch's frames/s of the same round, averaged over rounds.
2. person recall and precision at IoU 0.5 on ``../shared/data/ppe/valid`` (labelled class 3 = person; 118
   images; ``--person-images N``: the first N by name), persons being the detector's ``person`` / ``fallen_person`` boxes at its ``conf`` merged by the
   tracker's class-agnostic NMS (``floorwatch.vision.ppe_metrics.predicted_people``); matching is greedy
   one-to-one by IoU (``match_people``). Skipped when the data is absent.
3. ``--streams K``: K live-paced copies of the window (the clip's native rate; ``vtest.avi`` = 10 fps) through
   K full pipelines sharing the runtime's detector through the micro-batcher: dropped-frame share and p95
   frame -> alert latency.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PPE_VALID = REPO.parent / "shared" / "data" / "ppe" / "valid"
PERSON_CLASS = 3  # ppe/data.yaml names: helmet, no-helmet, no-vest, person, vest


def parse_runtimes(text: str) -> list[tuple[str, str]]:
    """``"torch,openvino:int8"`` -> ``[("torch", "fp32"), ("openvino", "int8")]``; torch is always first.

    Raises:
        ValueError: an unknown runtime or precision, naming it.
    """
    from floorwatch.vision.runtimes import RUNTIMES

    out: list[tuple[str, str]] = [("torch", "fp32")]
    for item in (x.strip() for x in text.split(",") if x.strip()):
        runtime, _, precision = item.partition(":")
        precision = precision or "fp32"
        if runtime not in RUNTIMES or precision not in ("fp32", "int8"):
            raise ValueError(f"--runtime {item!r}: expected RUNTIME[:fp32|int8] with RUNTIME in {RUNTIMES}")
        if (runtime, precision) not in out:
            out.append((runtime, precision))
    return out


def person_accuracy(detector: Any, data: Path = PPE_VALID, iou: float = 0.5, limit: int = 0) -> dict[str, float] | None:
    """Person recall / precision of ``detector`` on the PPE valid images (the first ``limit`` by name when > 0;
    None when the data is absent)."""
    import cv2

    from floorwatch.vision.ppe_metrics import Box, match_people, predicted_people, read_yolo_labels

    images = sorted((data / "images").glob("*.jpg")) if data.is_dir() else []
    images = images[:limit] if limit > 0 else images
    if not images:
        return None
    tp = n_truth = n_pred = 0
    for path in images:
        img = cv2.imread(str(path))
        h, w = img.shape[:2]
        truth = read_yolo_labels(data / "labels" / f"{path.stem}.txt", w, h, {i: str(i) for i in range(5)})
        truth_xyxy = np.array([b.xyxy for b in truth if b.label == str(PERSON_CLASS)], dtype=np.float32).reshape(-1, 4)
        (det,) = detector.predict([img])
        boxes = [Box(str(lab), tuple(map(float, xy)), float(c)) for xy, lab, c in
                 zip(det.xyxy, det.label, det.confidence, strict=True)]
        pred = predicted_people(boxes, detector.cfg.conf)
        tp += len(match_people(truth_xyxy, pred, iou))
        n_truth += len(truth_xyxy)
        n_pred += len(pred)
    return {"recall": tp / max(1, n_truth), "precision": tp / max(1, n_pred), "truth": n_truth, "images": len(images)}


def predict_speed(detector: Any, frames: list[np.ndarray], warmup: int) -> tuple[float, float]:
    """Frames/s (wall) and process CPU ms per frame of ``detector.predict`` after ``warmup`` frames."""
    t = c = 0.0
    for i, image in enumerate(frames):
        if i == warmup:
            t, c = time.perf_counter(), time.process_time()
        detector.predict([image])
    n = len(frames) - warmup
    return n / (time.perf_counter() - t), 1000 * (time.process_time() - c) / n


def compare(ctx: Any, frames: list[np.ndarray], runtimes: list[tuple[str, str]], streams: list[int],
            measure_streams: Any) -> list[dict[str, Any]]:
    """Load every runtime (``ctx.detector`` is torch), measure them (module docstring), return one row each."""
    from floorwatch.vision.detector import Detector

    a = ctx.args
    rows: list[dict[str, Any]] = []
    dets = []
    for runtime, precision in runtimes:
        t0 = time.perf_counter()
        det = ctx.detector if runtime == "torch" else Detector(
            ctx.detector.cfg.model_copy(update={"runtime": runtime, "precision": precision})
        )
        load_s = time.perf_counter() - t0
        det.warmup(frames[0].shape[:2])
        rows.append({"runtime": runtime, "precision": precision, "ran": det.runtime, "fallback": det.fallback,
                     "conf": det.cfg.conf,
                     "load_s": load_s, "fps": [], "cpu_ms": [], "speedup": []})
        dets.append(det)
        print(f"{runtime}:{precision} loaded in {load_s:.1f} s (running {det.runtime})", flush=True)
    for r in range(a.rounds):
        order = list(range(len(dets)))
        order = order[r % len(order):] + order[: r % len(order)]
        for i in order:
            fps, cpu = predict_speed(dets[i], frames, a.warmup)
            rows[i]["fps"].append(fps)
            rows[i]["cpu_ms"].append(cpu)
        for row in rows:
            row["speedup"].append(row["fps"][-1] / rows[0]["fps"][-1])
        print("round", r + 1, [(f"{x['runtime']}:{x['precision']}", round(x["fps"][-1], 2)) for x in rows], flush=True)
    for row, det in zip(rows, dets, strict=True):
        row["accuracy"] = person_accuracy(det, limit=a.person_images)
        print(f"{row['runtime']}:{row['precision']} persons {row['accuracy']}", flush=True)
        row["streams"] = []
        for k in streams:
            ctx.detector = det
            s = measure_streams(ctx, k, len(frames))
            lat = ctx.events.get(f"streams{k}", [])
            ctx.events[f"streams{k}"] = []
            s["p95_ms"] = _p95_ms(lat)
            row["streams"].append(s)
            print(f"{row['runtime']}:{row['precision']} streams {s}", flush=True)
    ctx.detector = dets[0]
    return rows


def _load(avg: Any) -> str:
    return " / ".join(f"{x:.2f}" for x in avg) if avg else "unknown"


def _p95_ms(events: list[Any]) -> float | None:
    ms = [1000 * (e.latency.published_at - e.latency.captured_at).total_seconds()
          for e in events if getattr(e, "latency", None) is not None]
    return float(np.percentile(ms, 95)) if ms else None


def render(args: Any, machine: Any, rows: list[dict[str, Any]], load: tuple[Any, Any], n: int, wall_s: float) -> str:
    """One ``### runtimes`` Markdown section."""
    torch_acc = rows[0].get("accuracy")
    head = (f"\n### runtimes, {machine.date_utc:%Y-%m-%d %H:%M} UTC, imgsz {args.imgsz}, model {args.model}\n\n"
            f"{machine.line()}; `benchmarks/vision.py --runtime {args.runtime} --imgsz {args.imgsz} --frames "
            f"{args.frames} --rounds {args.rounds} --person-images {args.person_images} --streams {','.join(map(str, args.streams))}`; {n} frames of "
            f"`{Path(args.video).name}` from frame {args.start_frame}, {args.threads} threads; load average "
            f"{_load(load[0])} at start, {_load(load[1])} at end; {wall_s:.0f} s.\n\n")
    cols = ["runtime", "frames/s", "× torch", "CPU ms/frame", "person recall", "person precision",
            "Δ recall / precision vs torch"] + [f"{k} × 10 fps streams: dropped, p95 ms" for k in args.streams]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        acc = row.get("accuracy")
        name = f"{row['runtime']} {row['precision']}" + ("" if row["ran"] == row["runtime"] else f" (FELL BACK to {row['ran']})")
        cells = [name, f"{np.mean(row['fps']):.2f}", f"{np.mean(row['speedup']):.2f}", f"{np.mean(row['cpu_ms']):.0f}"]
        if acc:
            cells += [f"{acc['recall']:.3f}", f"{acc['precision']:.3f}", f"{acc['recall'] - torch_acc['recall']:+.3f} / {acc['precision'] - torch_acc['precision']:+.3f}"]
        else:
            cells += ["n/a"] * 3
        for s in row["streams"]:
            p95 = f"{s['p95_ms']:.0f}" if s.get("p95_ms") is not None else "no alert"
            cells.append(f"{s['drop_pct']:.1f} %, {p95}")
        lines.append("| " + " | ".join(cells) + " |")
    foot = ""
    if torch_acc:
        foot = (f"\nPersons: {torch_acc['truth']} labelled persons in {torch_acc['images']} images of ppe/valid, "
                f"IoU 0.5, detector conf {rows[0]['conf']}; Δ within ±0.01 is the issue's goal.\n")
    return head + "\n".join(lines) + "\n" + foot
