"""Seconds per report of the risk job's extraction stage, through the product path.

Runs :func:`floorwatch.llm.extract.extract_reports` (batches of 8, commit per batch, JSON extraction +
token-probability judge + MiniLM second opinion, exactly as ``floorwatch risk`` does) on N evenly spaced
rows of the development incident file, each variant into its own fresh SQLite database (so no variant
hits another's cache). Reads llama.cpp's counters: prompt tokens evaluated (the rest came from the KV
cache) and tokens generated, with their milliseconds.

To compare two versions in one sitting, run it in a ``git worktree`` of the baseline commit right before
or after the current checkout (the figures in RESULTS.md name both commits).

Usage: ``nice python benchmarks/llm_throughput.py --limit 24 --rounds 1``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._machine import describe  # noqa: E402
from benchmarks.incidents import DEFAULT_CSV, _load, _subset  # noqa: E402
from floorwatch.config import Settings  # noqa: E402
from floorwatch.llm.backends import LocalBackend  # noqa: E402
from floorwatch.llm.extract import extract_reports  # noqa: E402
from floorwatch.llm.judge import scorer_for  # noqa: E402
from floorwatch.manuals.embed import load_embedder  # noqa: E402


def _counters(llms: list) -> tuple[int, float, int, float]:
    """(prompt tokens evaluated, their ms, tokens generated, their ms) summed over the contexts since their last reset."""
    import llama_cpp

    p = [llama_cpp.llama_perf_context(x._ctx.ctx) for x in llms]  # noqa: SLF001 - llama.cpp counters live on the context
    return sum(c.n_p_eval for c in p), sum(c.t_p_eval_ms for c in p), sum(c.n_eval for c in p), sum(c.t_eval_ms for c in p)


def main() -> int:
    """Run the variants; print one line per variant and round, then the means."""
    import llama_cpp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    if not args.csv.is_file():
        print(f"data not found: {args.csv}", file=sys.stderr)
        return 2
    settings = Settings()
    backend = LocalBackend(settings.llm)
    embedder = load_embedder(settings.runtime.torch_threads)
    print(describe().line(), f"load average {os.getloadavg()[0]:.1f}; {args.limit} rows, batch {args.batch_size}", flush=True)
    scorer = scorer_for(backend)
    secs: list[float] = []
    for rnd in range(args.rounds):
        factory, reports = _load(args.csv, f"sqlite:///{tempfile.mkdtemp(prefix='fw-tp-')}/tp.db")
        ids = [r.id for r in _subset(reports, args.limit)]
        llama_cpp.llama_perf_context_reset(backend._llm._ctx.ctx)  # noqa: SLF001 - llama.cpp counters live on the context
        t0 = time.perf_counter()
        out = extract_reports(factory, backend, ids, batch_size=args.batch_size, judge=scorer, second_opinion=embedder)
        sec = (time.perf_counter() - t0) / len(ids)
        evaluated, t_prompt, generated, t_gen = _counters([backend._llm])  # noqa: SLF001
        secs.append(sec)
        ok = sum(o.status == "ok" for o in out)
        n = len(ids)
        print(f"round {rnd + 1}: {sec:.2f} s/report; prompt tokens evaluated {evaluated / n:.0f}/report "
              f"({t_prompt / n / 1000:.2f} s), generated {generated / n:.0f}/report ({t_gen / n / 1000:.2f} s); "
              f"ok {ok}/{n}; load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"MEAN {statistics.mean(secs):.2f} s/report -> {statistics.mean(secs) * 285 / 60:.1f} min for 285 reports "
          f"(extraction + judge + second opinion, batch {args.batch_size})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
