"""One detector shared by several camera threads, with their frames gathered into batched model calls.

Each :class:`~floorwatch.vision.pipeline.VisionPipeline` thread calls ``predict([frame])`` as if it owned
the detector. A single serving thread takes the first waiting request, waits at most ``max_wait_s`` for
requests of other cameras (until ``max_batch`` frames are gathered), runs ONE ``detector.predict(batch)``
and hands each caller its own slice of the result. On a GPU one call of N frames costs far less than N
calls of one; with ``max_batch=1`` it behaves like a lock around the detector.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from floorwatch.vision.detections import Detections
from floorwatch.vision.predictor import Predictor

_STOP = None


@dataclass
class _Request:
    frames: list[np.ndarray]
    min_conf: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Detections] | None = None
    error: BaseException | None = None


class BatchedDetector:
    """Serve ``predict`` calls of several threads from one detector, in batches of up to ``max_batch`` frames.

    Args:
        detector: the model (:class:`~floorwatch.vision.predictor.Predictor`: one result per image, in order).
        max_batch: Most frames in one model call (``detector.batch``); at least 1.
        max_wait_s: Longest time the first request of a batch waits for others to join it.
        name: Name of the serving thread (e.g. ``batched-ppe-detector`` for the PPE model).

    Attributes:
        batch_sizes: Frames in each model call made so far (bounded: the last 10 000).
    """

    def __init__(self, detector: Predictor, max_batch: int, max_wait_s: float = 0.005, name: str = "batched-detector"):
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        self.detector = detector
        self.max_batch = max(1, int(max_batch))
        self.max_wait_s = max_wait_s
        self.batch_sizes: list[int] = []
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def predict(self, frames: list[np.ndarray], min_conf: float | None = None) -> list[Detections]:
        """Results of ``frames``, computed in one model call together with other callers' frames.

        ``min_conf`` (see :meth:`floorwatch.vision.detector.Detector.predict`) is passed on only when given;
        callers asking for different ``min_conf`` values get separate model calls.

        Raises:
            RuntimeError: the batcher is closed.
            Exception: whatever the detector raised for the batch these frames were in.
        """
        if self._closed:
            raise RuntimeError("BatchedDetector is closed")
        if not frames:
            return []
        req = _Request(list(frames), min_conf)
        self._queue.put(req)
        while not req.done.wait(0.5):
            if not self._thread.is_alive() and not req.done.is_set():  # raced with close(): nobody will answer
                raise RuntimeError("BatchedDetector is closed")
        if req.error is not None:
            raise req.error
        assert req.result is not None
        return req.result

    def close(self, timeout: float = 10.0) -> None:
        """Answer the requests already queued, then stop the serving thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def __enter__(self) -> BatchedDetector:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        batch, n, stop = [first], len(first.frames), False
        deadline = time.monotonic() + self.max_wait_s
        while n < self.max_batch:
            try:
                remaining = deadline - time.monotonic()
                req = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if req is _STOP:
                stop = True
                break
            batch.append(req)
            n += len(req.frames)
        return batch, stop

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch, stop = self._gather(first)
            self._run(batch)
            if stop:
                self._drain()
                return

    def _run(self, batch: list[_Request]) -> None:
        groups: dict[float | None, list[_Request]] = {}
        for r in batch:
            groups.setdefault(r.min_conf, []).append(r)
        for min_conf, group in groups.items():
            self._run_group(group, min_conf)

    def _run_group(self, batch: list[_Request], min_conf: float | None) -> None:
        images = [f for r in batch for f in r.frames]
        try:
            results = (self.detector.predict(images) if min_conf is None
                       else self.detector.predict(images, min_conf=min_conf))  # type: ignore[call-arg]
            if len(results) != len(images):
                raise RuntimeError(f"detector returned {len(results)} results for {len(images)} frames")
        except BaseException as exc:  # handed to every caller of this batch, in its own thread
            for r in batch:
                r.error = exc
                r.done.set()
            return
        i = 0
        for r in batch:
            r.result, i = list(results[i : i + len(r.frames)]), i + len(r.frames)
            r.done.set()
        self.batch_sizes.append(len(images))
        if len(self.batch_sizes) > 10_000:
            del self.batch_sizes[:5_000]

    def _drain(self) -> None:
        """Requests that raced with close() still get an answer."""
        while True:
            try:
                req = self._queue.get_nowait()
            except queue.Empty:
                return
            if req is not _STOP:
                self._run([req])
