"""Real-browser test helpers: Debian's headless Chromium (driven by Playwright) and a real
``floorwatch serve`` process on a free port. Nothing is downloaded at run time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.fixtures_postgres import skip_or_fail

CHROMIUM = Path(os.environ.get("FLOORWATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = REPO_ROOT / "test-artifacts"


def require_browser() -> None:
    """Skip (or fail where services are required) without Chromium or the playwright package."""
    if not CHROMIUM.is_file():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright python package not installed (dev extra)")


@contextmanager
def serve_process(cfg: Path, port: int, token: str, ready_path: str) -> Iterator[str]:
    """Run ``floorwatch serve --config cfg`` on 127.0.0.1:port with ``token``; yield its base URL once
    ``GET ready_path`` answers 200 (fails the test after 60 s or if the process exits), stop it after."""
    env = {**os.environ, "FLOORWATCH_SERVE__TOKEN": token}
    cmd = [sys.executable, "-m", "floorwatch.cli.main", "serve", "--config", str(cfg), "--host", "127.0.0.1",
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}{ready_path}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"floorwatch serve did not come up on {url}: {out[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def browser_page(width: int, height: int) -> Iterator[Any]:
    """A Playwright page of headless Chromium with a ``width`` x ``height`` viewport (``ARTIFACTS`` exists
    for screenshots); the browser is closed afterwards."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def sign_in(page: Any, url: str, token: str) -> None:
    """Sign in on the dashboard's login page with the serve token."""
    page.goto(f"{url}/login")
    page.fill("input[name=token]", token)
    page.click("text=Sign in >> nth=-1")
