"""Pure-logic parts of ``benchmarks/vision.py``: RSS slope, RESULTS.md section placement."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _vision_parts import slope_per_1000  # noqa: E402
from _vision_report import write_section  # noqa: E402


def test_slope_flat_and_growing() -> None:
    xs = list(range(0, 1000, 100))
    assert slope_per_1000(xs, [500.0] * len(xs)) == pytest.approx(0.0, abs=1e-9)
    assert slope_per_1000(xs, [500.0 + 0.01 * x for x in xs]) == pytest.approx(10.0)
    assert slope_per_1000([0, 1], [1.0, 2.0]) is None


def test_write_section_appends_inside_the_vision_section(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n## Sensors\n\ns1\n", encoding="utf-8")
    write_section(out, "\n### run A\n\nfigures A\n")
    out.write_text(out.read_text(encoding="utf-8") + "\n## Sink\n\nk1\n", encoding="utf-8")
    write_section(out, "\n### run B\n\nfigures B\n")
    text = out.read_text(encoding="utf-8")
    assert text.count("## Vision") == 1
    assert text.index("## Sensors") < text.index("## Vision") < text.index("run A") < text.index("run B")
    assert text.index("run B") < text.index("## Sink") and text.rstrip().endswith("k1")
