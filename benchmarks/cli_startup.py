"""Start-up time of the CLI: ``floorwatch --help`` and ``floorwatch config check FILE`` (goal: under 1 s).

Usage: ``.venv/bin/python benchmarks/cli_startup.py [--runs 7] [--before OTHER/bin/floorwatch] [--no-write]``

Each command runs ``--runs`` times in a fresh process; the median wall time is reported beside the
median of a bare ``python -c pass`` measured in the same run (the ratio is what survives a loaded
machine) and the load average. ``--before`` times another installation's ``floorwatch`` (e.g. the
main checkout) in the same run, for a before/after comparison. ``-X importtime`` lists what a
command imports; this script only times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADING = "## Issue #14: CLI start-up"
CONFIG = "site:\n  name: bench\n"


def wall(cmd: list[str], runs: int) -> float:
    """Median wall seconds of ``cmd`` over ``runs`` fresh processes (stdout/stderr discarded)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
                       env={**os.environ, "FLOORWATCH_CONFIG": ""})
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--before", type=Path, help="another installation's floorwatch executable to time too")
    ap.add_argument("--no-write", action="store_true", help="print only, do not append to RESULTS.md")
    args = ap.parse_args()
    exe = Path(sys.executable).parent / "floorwatch"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "site.yaml"
        cfg.write_text(CONFIG, encoding="utf-8")
        load_before = os.getloadavg()[0]
        base = wall([sys.executable, "-c", "pass"], args.runs)
        rows = []
        for name, prog in [("this checkout", exe), *([("before (--before)", args.before)] if args.before else [])]:
            rows.append((name, wall([str(prog), "--help"], args.runs), wall([str(prog), "config", "check", str(cfg)], args.runs)))
        load_after = os.getloadavg()[0]
    lines = [
        "", f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average {load_before:.1f} -> {load_after:.1f}", "",
        f"Median of {args.runs} fresh processes each; `python -c pass` in the same run: {base:.3f} s.", "",
        "| installation | `floorwatch --help`, s | ratio to `python -c pass` | `config check FILE`, s | ratio |",
        "|---|---|---|---|---|",
        *(f"| {n} | {h:.2f} | {h / base:.0f}x | {c:.2f} | {c / base:.0f}x |" for n, h, c in rows),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        results = REPO / "benchmarks" / "RESULTS.md"
        body = results.read_text(encoding="utf-8")
        if HEADING not in body:
            body = body.rstrip("\n") + f"\n\n{HEADING}\n"
        start = body.index(HEADING) + len(HEADING)
        nxt = body.find("\n## ", start)
        end = len(body) if nxt == -1 else nxt
        results.write_text(body[:end].rstrip("\n") + "\n" + text + "\n" + body[end:], encoding="utf-8")


if __name__ == "__main__":
    main()
