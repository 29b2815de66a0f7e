"""Helmet / no-helmet accuracy of PPE models on ``../shared/data/ppe/valid`` (118 labelled images).

    .venv/bin/python benchmarks/ppe_accuracy.py                      # helmet model at 640, print only
    .venv/bin/python benchmarks/ppe_accuracy.py --model helmet --model models/ppe_v8s.pt:416 --write

Each ``--model`` is ``NAME_OR_PATH[:IMGSZ]``. Model classes are mapped to Floorwatch labels with the
registry's label map (``helmet``: With Helmet -> helmet, Without Helmet -> no_helmet) or, for a weights
file, by normalising its class names (``no-helmet`` -> ``no_helmet``). Predictions are made once at
``conf=0.01`` and counted at the operating threshold ``--conf`` (default 0.35, the detector's default).
Matching: per image and class, greedy in descending confidence, a prediction is a true positive when
its IoU with an unmatched ground-truth box of the same label is >= ``--iou`` (default 0.5); see
``floorwatch.vision.ppe_metrics``. ``--write`` appends a table (machine, date) to ``benchmarks/RESULTS.md``
under ``## PPE accuracy``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ppe" / "valid"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
LABELS = ("helmet", "no_helmet")
SECTION = "## PPE accuracy"


def _label_of(name: str, class_map: dict[str, str]) -> str:
    return class_map.get(name, name.lower().replace("-", "_").replace(" ", "_"))


def run_model(spec: str, images: list[Path], conf_floor: float, ious: list[float]) -> dict:
    """Predict every image with one model; return per-IoU accuracy and timing."""
    import cv2

    from floorwatch.vision.models import load_yolo
    from floorwatch.vision.ppe_metrics import Box, evaluate, read_yolo_labels

    name, _, size = spec.partition(":")
    imgsz = int(size or 640)
    model, class_map = load_yolo(name)
    names = dict(model.names)
    pairs = []
    t0 = time.perf_counter()
    for img_path in images:
        frame = cv2.imread(str(img_path))
        if frame is None:
            raise SystemExit(f"cannot read image {img_path}")
        h, w = frame.shape[:2]
        res = model.predict(frame, imgsz=imgsz, conf=conf_floor, iou=0.5, device="cpu", verbose=False)[0]
        preds = [
            Box(_label_of(names[int(c)], class_map), tuple(map(float, xyxy)), float(s))
            for xyxy, c, s in zip(
                res.boxes.xyxy.tolist(), res.boxes.cls.tolist(), res.boxes.conf.tolist(), strict=True
            )
        ]
        truth = read_yolo_labels(img_path.parent.parent / "labels" / f"{img_path.stem}.txt", w, h)
        pairs.append((preds, truth))
    seconds = time.perf_counter() - t0
    return {
        "model": name,
        "imgsz": imgsz,
        "names": names,
        "per_image_s": seconds / max(len(images), 1),
        "acc": {iou: evaluate(pairs, LABELS, iou) for iou in ious},
    }


def format_rows(result: dict, conf: float) -> list[str]:
    """Markdown table rows of one model."""
    rows = []
    for iou, acc in result["acc"].items():
        for label in LABELS:
            a = acc[label]
            tp, fp, fn = a.counts(conf)
            p, r = a.precision_recall(conf)
            rows.append(
                f"| {result['model']} | {result['imgsz']} | {iou:.1f} | {label} | {a.n_truth} | {tp} | {fp} | {fn} "
                f"| {p:.3f} | {r:.3f} | {a.ap():.3f} |"
            )
    return rows


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table and optionally append it to RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", action="append", help="NAME_OR_PATH[:IMGSZ], repeatable (default helmet:640)"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder with images/ and labels/")
    parser.add_argument("--conf", type=float, default=0.35, help="operating confidence threshold")
    parser.add_argument(
        "--iou", type=float, action="append", help="IoU threshold(s) for a match (default 0.5)"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (smoke runs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help=f"append to {RESULTS.relative_to(REPO)}")
    args = parser.parse_args(argv)
    images = sorted((args.data / "images").glob("*.jpg")) if (args.data / "images").is_dir() else []
    if not images:
        print(f"SKIP: no PPE validation images under {args.data} (expected images/*.jpg + labels/*.txt)")
        return 0
    images = images[: args.limit] if args.limit else images
    from floorwatch.runtime import configure_offline, set_threads

    configure_offline()
    set_threads(args.threads, 1)
    ious = args.iou or [0.5]
    header = [
        "| model | imgsz | IoU | class | GT boxes | TP | FP | FN | precision | recall | AP |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows, notes = [], []
    for spec in args.model or ["helmet:640"]:
        result = run_model(spec, images, 0.01, ious)
        rows += format_rows(result, args.conf)
        notes.append(
            f"- `{result['model']}` classes {result['names']}; {result['per_image_s']:.2f} s/image on CPU"
        )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpu = _cpu_name()
    text = "\n".join(
        [
            f"### {stamp} — {len(images)} images of `ppe/valid`, conf >= {args.conf}, CPU {cpu}, "
            f"{args.threads} torch threads (shared 2-core machine), Python {platform.python_version()}",
            "",
            *header,
            *rows,
            "",
            *notes,
            "",
        ]
    )
    print(text)
    if args.write:
        append_section(text)
    return 0


def append_section(text: str) -> None:
    """Add ``text`` at the end of the ``## PPE accuracy`` section of RESULTS.md (created if absent)."""
    existing = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if SECTION not in existing:
        intro = "Measured by `benchmarks/ppe_accuracy.py` (matching rule in its docstring)."
        existing = existing.rstrip("\n") + f"\n\n{SECTION}\n\n{intro}\n"
    start = existing.index(SECTION) + len(SECTION)
    nxt = existing.find("\n## ", start)
    end = len(existing) if nxt < 0 else nxt
    head, tail = existing[:end].rstrip("\n"), existing[end:]
    RESULTS.write_text(head + "\n\n" + text.rstrip("\n") + "\n" + tail, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
