"""Manual retrieval quality: recall@1, recall@3 and MRR for embedding, keyword and hybrid search.

Usage: ``.venv/bin/python benchmarks/retrieval.py [--questions benchmarks/retrieval_questions.yaml]
[--manuals sample_media/manuals] [--no-write]``

The sample manuals are ingested into a throw-away SQLite database exactly as
``floorwatch ingest manuals`` does, then every labelled question is searched with each mode. Ranks
are taken over all sections (no similarity floor); the floor is measured separately: how many
answerable questions still get their section above it, and how many unanswerable questions
correctly get nothing (a "gap").
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

from floorwatch.manuals.embed import load_embedder
from floorwatch.manuals.retrieval import ManualIndex
from floorwatch.manuals.sections import ingest_manual
from floorwatch.storage.db import make_engine, session_factory, session_scope
from floorwatch.storage.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
MODES = ("embedding", "keyword", "hybrid")


def load_questions(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """Labelled questions and unanswerable questions from the YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return list(data["questions"]), list(data.get("unanswerable", []))


def evaluate(
    index: ManualIndex, questions: list[dict[str, str]], unanswerable: list[str]
) -> dict[str, dict[str, float]]:
    """Per mode: recall@1, recall@3, MRR, share answered above the floor, share of unanswerables rejected, ms/query."""
    known = {(s.document, s.heading) for s in index.sections}
    missing = [(q["document"], q["heading"]) for q in questions if (q["document"], q["heading"]) not in known]
    if missing:
        raise SystemExit(f"labelled sections not found in the ingested manuals: {missing}")
    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        ranks: list[int | None] = []
        above_floor = 0
        t0 = time.perf_counter()
        for q in questions:
            hits = index.search(q["q"], k=len(index.sections), mode=mode, min_similarity=-1.0)  # type: ignore[arg-type]
            target = (q["document"], q["heading"])
            rank = next((i + 1 for i, h in enumerate(hits) if (h.document, h.heading) == target), None)
            ranks.append(rank)
            floored = index.search(q["q"], k=3, mode=mode)  # type: ignore[arg-type]
            above_floor += any((h.document, h.heading) == target for h in floored)
        ms = (time.perf_counter() - t0) * 1000 / (2 * len(questions))
        rejected = sum(not index.search(q, k=3, mode=mode) for q in unanswerable)  # type: ignore[arg-type]
        out[mode] = {
            "recall@1": float(np.mean([r == 1 for r in ranks])),
            "recall@3": float(np.mean([r is not None and r <= 3 for r in ranks])),
            "mrr": float(np.mean([1 / r if r else 0.0 for r in ranks])),
            "found_above_floor": above_floor / len(questions),
            "unanswerable_rejected": rejected / len(unanswerable) if unanswerable else float("nan"),
            "ms_per_query": ms,
        }
    return out


def best_scores(index: ManualIndex, texts: list[str]) -> list[float]:
    """Best embedding cosine of each text against all sections (to place the similarity floor)."""
    return [float(np.max(index.scores(t)[0])) for t in texts]  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--questions", type=Path, default=REPO / "benchmarks" / "retrieval_questions.yaml")
    ap.add_argument("--manuals", type=Path, default=REPO / "sample_media" / "manuals")
    ap.add_argument("--no-write", action="store_true", help="print only, do not append to RESULTS.md")
    args = ap.parse_args()
    questions, unanswerable = load_questions(args.questions)
    t0 = time.perf_counter()
    embedder = load_embedder(threads=1)
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        factory = session_factory(engine := make_engine(f"sqlite:///{tmp}/bench.db"))
        upgrade(engine)
        t0 = time.perf_counter()
        manuals = sorted(p for p in args.manuals.iterdir() if p.suffix in {".md", ".txt", ".pdf"})
        with session_scope(factory) as s:
            n_sections = sum(ingest_manual(s, p, embedder=embedder).sections for p in manuals)
        ingest_s = time.perf_counter() - t0
        with session_scope(factory) as s:
            index = ManualIndex.load(s, embedder)
            results = evaluate(index, questions, unanswerable)
            pos = best_scores(index, [q["q"] for q in questions])
            neg = best_scores(index, unanswerable)
        engine.dispose()
    now = datetime.now(UTC)
    lines = [
        f"### {now:%Y-%m-%d %H:%M} UTC, {platform.machine()} ({platform.system()}), Python {platform.python_version()}, "
        "1 torch thread (shared 2-core machine)",
        "",
        f"{len(questions)} labelled questions + {len(unanswerable)} unanswerable ones "
        f"(`benchmarks/retrieval_questions.yaml`) over {len(manuals)} sample manuals, {n_sections} sections. "
        "Ranks over all sections; 'found above floor' = target in the top 3 after the minimum-similarity floor; "
        "'unanswerable rejected' = no hit at all above the floor (reported as a gap).",
        "",
        "| mode | recall@1 | recall@3 | MRR | found above floor | unanswerable rejected | ms/query |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r in results.items():
        lines.append(
            f"| {mode} | {r['recall@1']:.2f} | {r['recall@3']:.2f} | {r['mrr']:.3f} | {r['found_above_floor']:.2f} | "
            f"{r['unanswerable_rejected']:.2f} | {r['ms_per_query']:.1f} |"
        )
    lines += [
        "",
        f"Best embedding cosine per question: answerable min {min(pos):.3f} / median {np.median(pos):.3f}; "
        f"unanswerable max {max(neg):.3f} / median {np.median(neg):.3f}. "
        f"Model load {load_s:.1f} s, ingest + embed of {n_sections} sections {ingest_s:.1f} s. "
        "Caveat: questions and manuals were written by the same person, so absolute figures flatter all modes.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        results_md = REPO / "benchmarks" / "RESULTS.md"
        body = results_md.read_text(encoding="utf-8") if results_md.exists() else "# Benchmark results\n"
        if "## Manual retrieval" not in body:
            body = body.rstrip("\n") + "\n\n## Manual retrieval\n\nMeasured by `benchmarks/retrieval.py`.\n"
        # Append under our own section (it may not be the last one in the file).
        head, _, tail = body.partition("## Manual retrieval")
        section_end = tail.find("\n## ", 1)
        section, rest = (tail, "") if section_end < 0 else (tail[:section_end], tail[section_end:])
        results_md.write_text(
            head + "## Manual retrieval" + section.rstrip("\n") + "\n\n" + text + rest, encoding="utf-8"
        )
        print(f"appended to {results_md}", file=sys.stderr)


if __name__ == "__main__":
    main()
