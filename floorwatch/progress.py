"""Progress of long work on stderr: a bar with count, rate and ETA on a terminal, a log line otherwise.

``Progress`` is used by the CLI (``ingest``, ``report``, ``replay``, ``model train``) and the benchmarks.
stdout is never written, so ``--json`` output stays clean. On a terminal the bar is drawn by
``rich.progress`` (rich comes with typer); when stderr is a pipe or a file, one plain line is written
at most every ``every_s`` seconds and at the end::

    report extraction: 40/140 (29%), 3.1/s, ETA 0:00:32

Libraries take an optional ``on_progress(done, total)`` callable rather than this class, so they stay
free of any output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import IO, Any, TypeVar

T = TypeVar("T")


def _eta(seconds: float) -> str:
    return str(timedelta(seconds=int(max(seconds, 0))))


def rate_words(rate: float) -> str:
    """``3.1/s``, or ``48.2 s each`` below one a second (an LLM step: "0.0/s" read as stuck in a trial)."""
    return f"{rate:.1f}/s" if rate >= 1 or rate <= 0 else f"{1 / rate:.1f} s each"


class Progress:
    """Progress of one task (``with Progress("ingest", total=n) as p: p.advance()``).

    Args:
        description: what is being done (shown first).
        total: number of steps, ``None`` when unknown (no ETA then).
        stream: where to write (default stderr).
        every_s: seconds between log lines when ``stream`` is not a terminal.
        enabled: ``False`` writes nothing (``--quiet``).
    """

    def __init__(self, description: str, total: int | None = None, *, stream: IO[str] | None = None,
                 every_s: float = 10.0, enabled: bool = True) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.enabled = enabled
        self._start = self._last = time.monotonic()
        self._logged: int | None = None  # ``done`` of the last line written (so the closing line is not a repeat)
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        isatty = getattr(self.stream, "isatty", None)
        if self.enabled and isatty is not None and isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                ProgressColumn,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress
            from rich.text import Text

            class RateColumn(ProgressColumn):
                def render(self, task: Any) -> Text:
                    return Text(rate_words(task.speed or 0))

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                RateColumn(), TimeRemainingColumn(), console=Console(file=self.stream), transient=False,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total)
        return self

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more steps done."""
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._log()

    def set_total(self, total: int) -> None:
        """Set or change the number of steps."""
        self.total = total
        if self._bar is not None:
            self._bar.update(self._task, total=total)

    def line(self) -> str:
        """``description: done/total (pct), rate/s, ETA h:mm:ss``."""
        elapsed = max(time.monotonic() - self._start, 1e-9)
        rate = self.done / elapsed
        if self.total:
            pct = 100.0 * self.done / self.total
            eta = _eta((self.total - self.done) / rate) if rate > 0 else "?"
            return f"{self.description}: {self.done}/{self.total} ({pct:.0f}%), {rate_words(rate)}, ETA {eta}"
        return f"{self.description}: {self.done} done, {rate_words(rate)}, {_eta(elapsed)} elapsed"

    def _log(self) -> None:
        self._logged = self.done
        print(self.line(), file=self.stream, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
        elif self.enabled and self.done and self._logged != self.done:
            self._log()

    def __call__(self, done: int, total: int | None = None) -> None:
        """Use as an ``on_progress(done, total)`` callback of a library function."""
        if total is not None and total != self.total:
            self.set_total(total)
        self.advance(done - self.done)


def track(items: Iterable[T], description: str, total: int | None = None, **kw: Any) -> Iterator[T]:
    """Iterate over ``items`` showing progress (``total`` defaults to ``len(items)`` when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(description, total, **kw) as p:
        for item in items:
            yield item
            p.advance()


class StageProgress:
    """An ``on_progress(stage, done, total)`` callback showing one ``Progress`` per stage in turn.

    ``with StageProgress("report") as p: run_risk_job(..., on_progress=p)`` shows
    ``report extraction`` and then ``report zones``.
    """

    def __init__(self, prefix: str, **kw: Any) -> None:
        self.prefix = prefix
        self.kw = kw
        self.stage: str | None = None
        self.current: Progress | None = None

    def __enter__(self) -> StageProgress:
        return self

    def __call__(self, stage: str, done: int, total: int | None = None) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.current = Progress(f"{self.prefix} {stage}", total, **self.kw).__enter__()
        assert self.current is not None
        self.current(done, total)

    def close(self) -> None:
        """End the current stage's display."""
        if self.current is not None:
            self.current.__exit__(None, None, None)
            self.current = None

    def __exit__(self, *exc: object) -> None:
        self.close()
