"""Pure-logic parts of ``benchmarks/vision.py``: micro-batching, RSS slope, RESULTS.md section placement."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _vision_parts import MicroBatcher, slope_per_1000  # noqa: E402
from _vision_report import write_section  # noqa: E402


class _EchoDetector:
    """Returns each frame's mean value; records the size of every call."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Event()

    def predict(self, frames: list[np.ndarray]) -> list[float]:
        self.gate.wait(5)
        self.calls.append(len(frames))
        return [float(f.mean()) for f in frames]


def test_micro_batcher_batches_concurrent_callers_and_routes_results() -> None:
    det = _EchoDetector()
    batcher = MicroBatcher(det, max_batch=4, max_wait_s=0.5)
    out: dict[int, list[float]] = {}

    def call(i: int) -> None:
        out[i] = batcher.predict([np.full((2, 2, 3), i, np.uint8)])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    det.gate.set()
    for t in threads:
        t.join(5)
    batcher.close()
    assert out == {i: [float(i)] for i in range(4)}
    assert sum(det.calls) == 4 and len(det.calls) < 4  # at least two callers shared one model call
    assert batcher.batch_sizes == det.calls


def test_micro_batcher_hands_detector_errors_to_the_caller() -> None:
    class _Broken:
        def predict(self, frames: list[np.ndarray]) -> list[float]:
            raise ValueError("bad frame")

    batcher = MicroBatcher(_Broken(), max_batch=2, max_wait_s=0.01)
    with pytest.raises(ValueError, match="bad frame"):
        batcher.predict([np.zeros((2, 2, 3), np.uint8)])
    batcher.close()


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
