"""Where the time of one local extraction goes: prompt tokens vs generated tokens, prompt eval vs eval.

Runs the packaged model (``local`` backend) on N evenly spaced reports of the 2016 incident CSV, one
at a time, and reads llama.cpp's own counters (``llama_perf_context``) after each: tokens in the
prompt, tokens actually evaluated (the rest came from the KV cache of the shared prefix), prompt-eval
ms, generated tokens and eval ms. Prints one line per report and the means; writes nothing.
Usage: ``python benchmarks/llm_profile.py 12 '{"n_ctx": 2048}'`` (the JSON updates ``LLMConfig``).
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
import time
from pathlib import Path

from floorwatch.config import Settings
from floorwatch.llm.backends import LocalBackend
from floorwatch.llm.prompts import extraction_request
from floorwatch.schemas.llm import IncidentExtraction

CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "incidents" / "industrial_safety_2016.csv"


def main() -> int:
    """Profile N reports (argv[1], default 12) with optional config overrides (argv[2], JSON)."""
    import llama_cpp

    if not CSV.is_file():
        print(f"data not found: {CSV}", file=sys.stderr)
        return 2
    rows = list(csv.DictReader(CSV.open(encoding="utf-8")))
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    pick = [rows[int(i * len(rows) / n) + 3] for i in range(n)]
    cfg = Settings().llm.model_copy(update=json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    t0 = time.perf_counter()
    backend = LocalBackend(cfg)
    print(f"model load {time.perf_counter() - t0:.1f} s, n_ctx {cfg.n_ctx}, n_threads {cfg.n_threads}")
    ctx = backend._llm._ctx.ctx  # noqa: SLF001 - llama.cpp counters live on the context
    stats = []
    for i, row in enumerate(pick):
        llama_cpp.llama_perf_context_reset(ctx)
        res = backend.generate_json([extraction_request(str(i), row["Description"])], IncidentExtraction)[0]
        p = llama_cpp.llama_perf_context(ctx)
        stats.append((res.seconds, res.prompt_tokens, p.n_p_eval, p.t_p_eval_ms, p.n_eval, p.t_eval_ms))
        print(f"{res.seconds:5.1f} s prompt {res.prompt_tokens} tok ({p.n_p_eval} evaluated, {p.t_p_eval_ms:.0f} ms) "
              f"generated {p.n_eval} tok ({p.t_eval_ms:.0f} ms) ok={res.ok}", flush=True)
    mean = [statistics.mean(s[k] for s in stats) for k in range(6)]
    print(f"MEAN {mean[0]:.2f} s; prompt {mean[1]:.0f} tok, evaluated {mean[2]:.0f} tok in {mean[3]:.0f} ms; "
          f"generated {mean[4]:.0f} tok in {mean[5]:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
