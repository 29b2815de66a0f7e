"""Person recall and precision of the detector on the person boxes of ``../shared/data/ppe/valid``.

Usage::

    .venv/bin/python benchmarks/person_recall.py --imgsz 320 640 --limit 60 --out benchmarks/RESULTS.md

For each input size: every image through ``Detector`` (default model ``fall``, ``detector.conf``), person boxes
(``person`` / ``fallen_person``, class-agnostic NMS as the tracker sees them) matched one-to-one to the labelled
``person`` boxes at IoU >= 0.5 (``floorwatch.vision.ppe_metrics``); recall, precision and seconds per image.
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="fall")
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    ap.add_argument("--conf", type=float, default=0.35)
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
    import torch

    torch.set_num_threads(1)
    from floorwatch.config import DetectorConfig
    from floorwatch.vision.detector import Detector
    from floorwatch.vision.ppe_metrics import (
        Box,
        boxes_xyxy,
        match_people,
        predicted_people,
        read_yolo_labels,
    )

    load0 = os.getloadavg()
    rows = []
    for imgsz in args.imgsz:
        det = Detector(DetectorConfig(model=args.model, imgsz=imgsz, conf=args.conf))
        tp = n_true = n_pred = 0
        t0 = time.perf_counter()
        for img_path in images:
            img = cv2.imread(str(img_path))
            h, w = img.shape[:2]
            truth = boxes_xyxy([b for b in read_yolo_labels(args.data / "labels" / f"{img_path.stem}.txt", w, h)
                                if b.label == "person"])
            d = det.predict([img])[0]
            pred = predicted_people(
                [Box(str(lab), tuple(map(float, xy)), float(c)) for xy, lab, c in zip(d.xyxy, d.label, d.confidence, strict=False)],
                args.conf)
            tp += len(match_people(truth, pred))
            n_true += len(truth)
            n_pred += len(pred)
        secs = (time.perf_counter() - t0) / len(images)
        rows.append((imgsz, tp / max(n_true, 1), tp / max(n_pred, 1), n_true, n_pred, secs))
        print(rows[-1], file=sys.stderr)
    sys.path.insert(0, str(REPO / "benchmarks"))
    from _machine import report  # type: ignore[import-not-found]

    table = ("| imgsz | recall | precision | true people | predicted | s / image |\n|---|---|---|---|---|---|\n"
             + "\n".join(f"| {s} | {r:.3f} | {p:.3f} | {nt} | {npred} | {sec:.2f} |"
                         for s, r, p, nt, npred, sec in rows))  # fmt: skip
    report(f"### person_recall.py: model {args.model}, conf {args.conf}, {len(images)} images of ppe/valid, IoU 0.5",
           load0, table, args.out)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
