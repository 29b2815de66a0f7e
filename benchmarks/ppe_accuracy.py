"""Accuracy of PPE models on ``../shared/data/ppe/valid`` (118 labelled images): boxes and persons.

    .venv/bin/python benchmarks/ppe_accuracy.py                      # helmet model at 640, print only
    .venv/bin/python benchmarks/ppe_accuracy.py --model helmet --model ppe:416 --person-model fall --write

Each ``--model`` is ``NAME_OR_PATH[:IMGSZ]``. Model classes are mapped to Floorwatch labels with the
registry's label map (``helmet``: With Helmet -> helmet, Without Helmet -> no_helmet) or, for a weights
file, by normalising its class names (``no-helmet`` -> ``no_helmet``).

Box level, for every label the model gives among helmet, no_helmet, vest, no_vest, person: predictions are
made once at ``conf=0.01`` and counted at the operating threshold ``--conf`` (default 0.35, the detector's
default). Matching: per image and class, greedy in descending confidence, a prediction is a true positive
when its IoU with an unmatched ground-truth box of the same label is >= ``--iou`` (default 0.5); AP is over
all predictions (see ``floorwatch.vision.ppe_metrics``).

Person level, what the ``missing_ppe`` rule decides, for helmet (and vest when the model gives vest
labels): a labelled person is *missing* an item when no labelled item box lies on it (share of the item
box inside the person box >= ``--min-overlap``, the rule's ``min_overlap``) or a ``no_<item>`` box does.
The prediction emulates the live pipeline: persons come from ``--person-model`` (default ``fall``; Normal
-> person, Fall -> fallen_person, both persons; ``same`` = the evaluated model's own person boxes) at
``--person-conf``, merged across labels by the tracker's class-agnostic NMS (IoU 0.6); PPE boxes come from
the evaluated model at ``--conf``; the flag is the rule's own test. Labelled and predicted persons are
matched one-to-one, best IoU first, at IoU >= ``--person-iou``; precision / recall / F1 of the flag
("missing" positive) are over matched persons. Tracking and ``min_seconds`` are not emulated (single images).

``--write`` appends the tables (machine, date, options) to ``benchmarks/RESULTS.md`` under ``## PPE accuracy``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ppe" / "valid"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
ALL_LABELS = ("helmet", "no_helmet", "vest", "no_vest", "person")
PPE_ITEMS = ("helmet", "vest")
SAME = "same"
SECTION = "## PPE accuracy"


def _label_of(name: str, class_map: dict[str, str]) -> str:
    return class_map.get(name, name.lower().replace("-", "_").replace(" ", "_"))


class Predictor:
    """One loaded model at one input size: ``boxes(frame, conf)`` -> Floorwatch-labelled :class:`Box` list."""

    def __init__(self, spec: str, option: str = "--model"):
        from floorwatch.vision.models import ModelNotFoundError, load_yolo

        name, _, size = spec.partition(":")
        self.name, self.imgsz = name, int(size or 640)
        try:
            self.model, class_map = load_yolo(name)
        except (ModelNotFoundError, KeyError) as exc:
            raise SystemExit(f"{option} {spec!r}: {exc}") from exc
        self.names: dict[int, str] = dict(self.model.names)
        self.labels = {i: _label_of(n, class_map) for i, n in self.names.items()}

    def boxes(self, frame: Any, conf: float) -> list:
        """Predictions of one BGR frame scoring >= ``conf`` (NMS IoU 0.5, the detector's default)."""
        from floorwatch.vision.ppe_metrics import Box

        res = self.model.predict(frame, imgsz=self.imgsz, conf=conf, iou=0.5, device="cpu", verbose=False)[0]
        return [
            Box(self.labels[int(c)], tuple(map(float, xyxy)), float(s))
            for xyxy, c, s in zip(
                res.boxes.xyxy.tolist(), res.boxes.cls.tolist(), res.boxes.conf.tolist(), strict=True
            )
        ]


class PersonSource:
    """Predicted persons per image from ``--person-model`` (cached across evaluated models) or ``same``."""

    def __init__(self, spec: str, conf: float):
        self.spec, self.conf = spec, conf
        self.predictor = None if spec == SAME else Predictor(spec, "--person-model")
        self.cache: dict[Path, list] = {}
        self.seconds = 0.0

    def people(self, img_path: Path, frame: Any, evaluated: list) -> Any:
        """``(P, 4)`` person boxes the rule would see on this image."""
        from floorwatch.vision.ppe_metrics import predicted_people

        if self.predictor is None:
            return predicted_people(evaluated, self.conf)
        if img_path not in self.cache:
            t0 = time.perf_counter()
            self.cache[img_path] = self.predictor.boxes(frame, self.conf)
            self.seconds += time.perf_counter() - t0
        return predicted_people(self.cache[img_path], self.conf)

    def describe(self) -> str:
        """One line for the notes."""
        if self.predictor is None:
            return f"persons from the evaluated model itself, conf >= {self.conf}"
        n = max(len(self.cache), 1)
        return (
            f"persons from `{self.predictor.name}`:{self.predictor.imgsz} classes {self.predictor.names}, "
            f"conf >= {self.conf}; {self.seconds / n:.2f} s/image on CPU"
        )


def run_model(spec: str, images: list[Path], args: argparse.Namespace, persons: PersonSource) -> dict:
    """Predict every image with one model; return box-level and person-level accuracy and timing."""
    import cv2

    from floorwatch.vision.detections import PERSON_LABELS
    from floorwatch.vision.ppe_metrics import PersonFlagAccuracy, evaluate, read_yolo_labels

    pred = Predictor(spec)
    given = set(pred.labels.values())
    labels = [lab for lab in ALL_LABELS if lab in given]
    items = [i for i in PPE_ITEMS if i in given or f"no_{i}" in given]
    if persons.predictor is None and not given & PERSON_LABELS:
        raise SystemExit(f"--person-model {SAME}: model {spec!r} gives no person class ({pred.names})")
    flags = {item: PersonFlagAccuracy(item) for item in items}
    pairs, seconds = [], 0.0
    for img_path in images:
        frame = cv2.imread(str(img_path))
        if frame is None:
            raise SystemExit(f"cannot read image {img_path}")
        h, w = frame.shape[:2]
        t0 = time.perf_counter()
        preds = pred.boxes(frame, 0.01)
        seconds += time.perf_counter() - t0
        truth = read_yolo_labels(img_path.parent.parent / "labels" / f"{img_path.stem}.txt", w, h)
        pairs.append((preds, truth))
        people = persons.people(img_path, frame, preds)
        at_conf = [b for b in preds if b.score >= args.conf]
        for acc in flags.values():
            acc.add(truth, people, at_conf, args.min_overlap, args.person_iou)
    return {
        "model": pred.name,
        "imgsz": pred.imgsz,
        "names": pred.names,
        "labels": labels,
        "per_image_s": seconds / max(len(images), 1),
        "acc": {iou: evaluate(pairs, labels, iou) for iou in args.iou},
        "flags": flags,
    }


def format_rows(result: dict, conf: float) -> list[str]:
    """Box-level markdown table rows of one model."""
    rows = []
    for iou, acc in result["acc"].items():
        for label in result["labels"]:
            a = acc[label]
            tp, fp, fn = a.counts(conf)
            p, r = a.precision_recall(conf)
            rows.append(
                f"| {result['model']} | {result['imgsz']} | {iou:.1f} | {label} | {a.n_truth} | {tp} | {fp} | {fn} "
                f"| {p:.3f} | {r:.3f} | {a.ap():.3f} |"
            )
    return rows


def format_person_rows(result: dict, person_model: str) -> list[str]:
    """Person-level markdown table rows of one model (one per PPE item it gives)."""
    rows = []
    for item, a in result["flags"].items():
        p, r, f1 = a.precision_recall_f1()
        rows.append(
            f"| {result['model']} | {result['imgsz']} | {person_model} | {item} | {a.persons} | {a.labelled_missing} "
            f"| {a.matched} | {a.person_recall:.3f} | {a.tp} | {a.fp} | {a.fn} | {a.tn} | {p:.3f} | {r:.3f} "
            f"| {f1:.3f} | {a.unmatched_pred} ({a.unmatched_pred_flagged}) |"
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (validated; a bad value exits naming the option)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        action="append",
        help="evaluated model NAME_OR_PATH[:IMGSZ], repeatable (default helmet:640)",
    )
    parser.add_argument(
        "--person-model",
        default="fall",
        help=f"NAME_OR_PATH[:IMGSZ] giving the persons (default fall:640), or '{SAME}' = the evaluated model",
    )
    parser.add_argument("--data", type=Path, default=DATA, help="folder with images/ and labels/")
    parser.add_argument(
        "--conf", type=float, default=0.35, help="operating confidence threshold of PPE boxes"
    )
    parser.add_argument("--person-conf", type=float, default=0.35, help="confidence threshold of persons")
    parser.add_argument(
        "--iou", type=float, action="append", help="box-level IoU threshold(s) for a match (default 0.5)"
    )
    parser.add_argument(
        "--person-iou", type=float, default=0.5, help="IoU to match labelled and predicted persons"
    )
    parser.add_argument(
        "--min-overlap", type=float, default=0.5, help="share of a PPE box inside a person box to lie on it"
    )
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (smoke runs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help=f"append to {RESULTS.relative_to(REPO)}")
    args = parser.parse_args(argv)
    args.iou = args.iou or [0.5]
    args.model = args.model or ["helmet:640"]
    for opt in ("conf", "person_conf", "person_iou", "min_overlap", *(["iou"] * len(args.iou))):
        values = getattr(args, opt) if opt == "iou" else [getattr(args, opt)]
        if any(not 0 < v <= 1 for v in values):
            parser.error(f"--{opt.replace('_', '-')} must be in (0, 1], got {values}")
    if args.limit < 0 or args.threads < 1:
        parser.error("--limit must be >= 0 and --threads >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the tables and optionally append them to RESULTS.md."""
    args = parse_args(argv)
    images = sorted((args.data / "images").glob("*.jpg")) if (args.data / "images").is_dir() else []
    if not images:
        print(f"SKIP: no PPE validation images under {args.data} (expected images/*.jpg + labels/*.txt)")
        return 0
    images = images[: args.limit] if args.limit else images
    from floorwatch.runtime import configure_offline, set_threads

    configure_offline()
    set_threads(args.threads, 1)
    persons = PersonSource(args.person_model, args.person_conf)
    results = [run_model(spec, images, args, persons) for spec in args.model]
    text = report(results, args, persons, len(images), sys.argv[1:] if argv is None else argv)
    print(text)
    if args.write:
        append_section(text)
    return 0


def report(
    results: list[dict], args: argparse.Namespace, persons: PersonSource, n_images: int, argv: list[str]
) -> str:
    """The markdown section: heading with machine, date and options, box table, person table, notes."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    person_model = (
        persons.spec if persons.predictor is None else f"{persons.predictor.name}:{persons.predictor.imgsz}"
    )
    box_rows = [row for r in results for row in format_rows(r, args.conf)]
    person_rows = [row for r in results for row in format_person_rows(r, person_model)]
    notes = [f"- `{r['model']}` classes {r['names']}; {r['per_image_s']:.2f} s/image on CPU" for r in results]
    return "\n".join(
        [
            f"### {stamp} — {n_images} images of `ppe/valid`, CPU {_cpu_name()} ({os.cpu_count()} cores), "
            f"{args.threads} torch threads, Python {platform.python_version()}",
            "",
            f"Command: `benchmarks/ppe_accuracy.py {shlex.join(argv)}` — PPE conf >= {args.conf}, box IoU "
            f"{args.iou}, person model `{person_model}` at conf >= {args.person_conf}, person match IoU >= "
            f"{args.person_iou}, min_overlap {args.min_overlap}.",
            "",
            "Box level:",
            "",
            "| model | imgsz | IoU | class | GT boxes | TP | FP | FN | precision | recall | AP |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            *box_rows,
            "",
            'Person level (`missing_ppe`: is this labelled person missing the item? "missing" is positive; '
            "TP/FP/FN/TN, precision, recall, F1 over matched persons):",
            "",
            "| model | imgsz | persons from | item | persons | labelled missing | matched | person recall | TP | FP "
            "| FN | TN | precision | recall | F1 | unmatched predicted (flagged) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            *person_rows,
            "",
            *notes,
            f"- {persons.describe()}",
            "",
        ]
    )


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
