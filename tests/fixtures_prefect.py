"""One real, throwaway Prefect server for the whole test session.

``prefect_server`` (session) runs ``prefect server start`` on a free port of 127.0.0.1 as a subprocess
in its own process group, with a temporary ``PREFECT_HOME`` (its own SQLite database), analytics off,
and waits for ``/api/health``. It yields a :class:`PrefectServer` (``api_url`` and ``env()`` for child
processes). At the end the whole process group is terminated (then killed) and the home deleted.
A missing ``prefect`` skips the test with the reason unless ``FLOORWATCH_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures_postgres import free_port, skip_or_fail

START_TIMEOUT_S = float(os.environ.get("FLOORWATCH_PREFECT_START_TIMEOUT", "180"))


@dataclass(frozen=True)
class PrefectServer:
    """A running Prefect server: ``api_url`` ends in ``/api``; ``home`` is its ``PREFECT_HOME``."""

    api_url: str
    home: Path
    log_path: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a child process (worker, CLI) that talks to this server."""
        env = dict(os.environ)
        env.update(prefect_client_env(self.api_url, self.home))
        env.update(extra)
        return env


def prefect_client_env(api_url: str, home: Path) -> dict[str, str]:
    """Settings that point Prefect clients at ``api_url`` with no telemetry and no ~/.prefect writes."""
    return {
        "PREFECT_API_URL": api_url,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }


def prefect_executable() -> Path | None:
    """The ``prefect`` console script beside this interpreter (the repo's .venv), else on PATH."""
    beside = Path(sys.executable).with_name("prefect")
    if beside.is_file():
        return beside
    found = shutil.which("prefect")
    return Path(found) if found else None


def stop_process_group(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM the process group of ``proc``, then SIGKILL it if it has not exited within ``grace_s``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)
    except ProcessLookupError:
        pass


def _wait_healthy(api_url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with {proc.returncode}: {_tail(log_path)}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy after {START_TIMEOUT_S:.0f} s: {_tail(log_path)}")


def _tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    """Start a real Prefect server for the session; stop its process group and delete its home at the end."""
    exe = prefect_executable()
    if exe is None:
        skip_or_fail("the `prefect` command is not installed (pip install prefect)")
        raise AssertionError("unreachable")
    home = Path(tempfile.mkdtemp(prefix="floorwatch-prefect-"))
    log_path = home / "server.log"
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ)
    env.update(prefect_client_env(api_url, home))
    env.pop("PREFECT_API_KEY", None)
    env["PREFECT_SERVER_API_HOST"] = "127.0.0.1"
    env["PREFECT_SERVER_API_PORT"] = str(port)
    env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    env["PREFECT_UI_ENABLED"] = "false"  # the UI is not tested; skip serving its static files
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=home,
        )
    try:
        _wait_healthy(api_url, proc, log_path)
    except RuntimeError as exc:
        stop_process_group(proc)
        shutil.rmtree(home, ignore_errors=True)
        pytest.fail(f"could not start the Prefect server: {exc}")
    try:
        yield PrefectServer(api_url=api_url, home=home, log_path=log_path)
    finally:
        stop_process_group(proc)
        shutil.rmtree(home, ignore_errors=True)
