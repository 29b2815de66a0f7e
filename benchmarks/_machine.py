"""Describe the machine a benchmark ran on: CPU model, cores, RAM, GPU (CUDA), load, versions, date (UTC).

Used by the benchmark scripts so every figure in ``RESULTS.md`` names where and when it was measured.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    """One machine description, taken once."""

    cpu: str
    cores: int
    ram_gib: float | None
    gpu: str | None
    python: str
    torch: str | None
    date_utc: datetime

    def line(self) -> str:
        """One Markdown-friendly line: ``CPU (N cores), RAM, GPU, Python, torch``."""
        ram = f"{self.ram_gib:.1f} GiB RAM" if self.ram_gib is not None else "RAM unknown"
        gpu = f"GPU {self.gpu}" if self.gpu else "no CUDA GPU"
        torch = f", torch {self.torch}" if self.torch else ""
        return f"{self.cpu} ({self.cores} cores), {ram}, {gpu}, Python {self.python}{torch}"


def cpu_model() -> str:
    """CPU model name from ``lscpu`` (falls back to /proc/cpuinfo, then ``platform.processor()``)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=False).stdout
        for row in out.splitlines():
            if row.startswith("Model name:"):
                return row.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for row in fh:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float | None:
    """Total memory in GiB from /proc/meminfo (None where unavailable)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for row in fh:
                if row.startswith("MemTotal:"):
                    return int(row.split()[1]) / 1024**2
    except (OSError, ValueError):
        pass
    return None


def load_average() -> tuple[float, float, float] | None:
    """1, 5 and 15 minute load averages (None where unavailable)."""
    try:
        return os.getloadavg()
    except OSError:
        return None


def describe() -> Machine:
    """Describe this machine now (imports torch only to name a CUDA GPU)."""
    gpu = torch_version = None
    try:
        import torch

        torch_version = torch.__version__
        if torch.cuda.is_available():
            gpu = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    except ImportError:
        pass
    return Machine(
        cpu=cpu_model(),
        cores=os.cpu_count() or 0,
        ram_gib=ram_gib(),
        gpu=gpu,
        python=platform.python_version(),
        torch=torch_version,
        date_utc=datetime.now(UTC),
    )


def report(heading: str, load0: tuple[float, float, float], table: str, out: Path | None, note: str = "") -> str:
    """A ``RESULTS.md`` section: ``heading``, this machine's :meth:`Machine.line`, the 1-minute load average at
    start (``load0``) and now, ``note`` appended to that line, then ``table`` (Markdown). Printed to stdout and,
    when ``out`` is given, appended to that file; returned."""
    load1 = os.getloadavg()
    text = (f"{heading}\n\n{describe().line()}; load average {load0[0]:.2f} at start, {load1[0]:.2f} at end"
            f"{note}\n\n{table}")  # fmt: skip
    print(text)
    if out:
        with out.open("a") as fh:
            fh.write("\n" + text + "\n")
    return text
