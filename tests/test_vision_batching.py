"""BatchedDetector: frames of several camera threads in one model call, each result back to its caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from floorwatch.vision.batching import BatchedDetector


class _EchoDetector:
    """Returns each frame's mean value; records the size of every call; blocks until ``gate`` is set."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate = threading.Event()

    def predict(self, frames: list[np.ndarray]) -> list[float]:
        self.gate.wait(5)
        self.calls.append(len(frames))
        return [float(f.mean()) for f in frames]


def _img(value: int) -> np.ndarray:
    return np.full((2, 2, 3), value, np.uint8)


def test_two_producer_threads_get_their_own_results_in_shared_batches() -> None:
    det = _EchoDetector()
    det.gate.set()
    got: dict[str, list[float]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def camera(name: str, base: int) -> None:
        start.wait()
        for i in range(20):
            got[name] += batcher.predict([_img(base + i)])

    with BatchedDetector(det, max_batch=2, max_wait_s=0.05) as batcher:
        threads = [threading.Thread(target=camera, args=(n, b)) for n, b in (("a", 0), ("b", 100))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert got["a"] == [float(i) for i in range(20)]
    assert got["b"] == [float(100 + i) for i in range(20)]
    assert batcher.batch_sizes == det.calls and sum(det.calls) == 40
    assert max(det.calls) == 2  # never above max_batch
    assert det.calls.count(2) >= 10  # the two cameras mostly shared a call


def test_batches_are_capped_at_max_batch_and_multi_frame_requests_are_sliced() -> None:
    det = _EchoDetector()  # gate closed: requests pile up while the first call waits
    out: dict[int, list[float]] = {}
    batcher = BatchedDetector(det, max_batch=3, max_wait_s=0.5)

    def call(i: int, n: int) -> None:
        out[i] = batcher.predict([_img(10 * i + j) for j in range(n)])

    threads = [threading.Thread(target=call, args=(i, 1 + i % 2)) for i in range(4)]
    for t in threads:
        t.start()
    det.gate.set()
    for t in threads:
        t.join(5)
    batcher.close()
    assert out == {i: [float(10 * i + j) for j in range(1 + i % 2)] for i in range(4)}
    assert sum(det.calls) == 6 and len(det.calls) < 4
    assert all(n <= 3 + 1 for n in det.calls)  # a request is never split; a batch stops once >= max_batch


def test_an_exception_in_predict_reaches_every_caller_of_that_batch() -> None:
    class _Broken:
        calls = 0

        def predict(self, frames: list[np.ndarray]) -> list[float]:
            self.calls += 1
            raise ValueError(f"bad batch of {len(frames)}")

    det = _Broken()
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def camera() -> None:
        start.wait()
        try:
            batcher.predict([_img(1)])
        except ValueError as exc:
            errors.append(exc)

    batcher = BatchedDetector(det, max_batch=2, max_wait_s=0.5)
    threads = [threading.Thread(target=camera) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert len(errors) == 2 and all("bad batch" in str(e) for e in errors)
    with pytest.raises(ValueError, match="bad batch of 1"):  # the serving thread survives the error
        batcher.predict([_img(2)])
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.predict([_img(3)])


def test_wrong_result_count_is_an_error_not_a_misrouted_result() -> None:
    class _Short:
        def predict(self, frames: list[np.ndarray]) -> list[float]:
            return [0.0]

    with BatchedDetector(_Short(), max_batch=1) as batcher, pytest.raises(RuntimeError, match="1 results for 2"):
        batcher.predict([_img(1), _img(2)])
