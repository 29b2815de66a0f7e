"""The zone editor in a real browser (Debian's headless Chromium via Playwright) against the real
``floorwatch serve --config FILE`` process: draw a zone on the camera's frame, save it into the file,
reload and see it; a self-crossing and a 2-corner polygon are refused with a clear message and the file
stays as it was."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from floorwatch.config import load_settings
from floorwatch.storage.db import make_engine
from floorwatch.storage.migrate import upgrade
from tests.conftest import REPO_ROOT
from tests.fixtures_postgres import free_port, skip_or_fail
from tests.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser
TOKEN = "zone-editor-token-0123456789"
VTEST = REPO_ROOT / "sample_media" / "vtest.avi"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not CHROMIUM.is_file():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright python package not installed (dev extra)")
    base = tmp_path_factory.mktemp("zone-editor")
    engine = make_engine(f"sqlite:///{base / 'fw.db'}")
    upgrade(engine)
    engine.dispose()
    cfg = base / "floorwatch.yaml"
    cfg.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{base / 'fw.db'}"}, "media": {"dir": str(base / "media")},
        "zones": [{"id": "loading_dock", "name": "Loading Dock"}],
        "cameras": [{"id": "dock-cam", "source": str(VTEST), "zones": [
            {"zone_id": "loading_dock", "polygon": [[560, 290], [768, 265], [768, 470], [600, 440]],
             "rules": [{"type": "restricted_zone_intrusion"}]}]}],
    }, sort_keys=False))  # fmt: skip
    port = free_port()
    env = {**os.environ, "FLOORWATCH_SERVE__TOKEN": TOKEN}
    cmd = [sys.executable, "-m", "floorwatch.cli.main", "serve", "--config", str(cfg), "--host", "127.0.0.1",
           "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/cameras/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"floorwatch serve did not come up on {url}: {out[-2000:]}")
            time.sleep(0.3)
        yield url, cfg
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _click(page, at: list[tuple[float, float]]) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#snapshot").bounding_box()
    for fx, fy in at:
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def test_draw_save_reload_and_refusals(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, cfg = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/zones/editor?camera=dock-cam")
            expect(page.locator("#save")).to_have_count(0)  # not signed in: shows, cannot save
            expect(page.locator('#overlay polygon[data-zone="loading_dock"]')).to_have_count(1)

            page.goto(f"{url}/login")
            page.fill("input[name=token]", TOKEN)
            page.click("text=Sign in >> nth=-1")
            page.goto(f"{url}/zones/editor?camera=dock-cam")
            expect(page.locator("#snapshot")).to_have_js_property("complete", True)
            assert page.locator("#snapshot").evaluate("img => img.naturalWidth") == 768  # vtest.avi's frame
            expect(page.locator("#zone-editor")).to_have_attribute("data-ready", "yes")

            _click(page, [(0.05, 0.55), (0.40, 0.55), (0.40, 0.95), (0.05, 0.95)])
            expect(page.locator("#point-count")).to_have_text("4 corners")
            page.fill("#zone-id", "lawn_storage")
            page.fill("#zone-name", "Lawn storage")
            page.select_option("#rule-type", "dwell")
            page.click("#add-rule")
            page.fill('#rules fieldset[data-type="dwell"] input[name="max_seconds"]', "4")
            page.click("#save")
            expect(page.locator("#save-summary")).to_contain_text("zone lawn_storage added (4 corners, rules: dwell)")
            expect(page.locator("#save-diff")).to_contain_text("lawn_storage")
            page.screenshot(path=str(ARTIFACTS / "zone-editor-saved.png"), full_page=True)

            saved = load_settings(cfg)
            zone = next(z for z in saved.cameras[0].zones if z.zone_id == "lawn_storage")
            assert zone.rules[0].type == "dwell" and zone.rules[0].max_seconds == 4
            xs, ys = zip(*zone.polygon, strict=True)
            assert 30 <= min(xs) <= 45 and 300 <= max(xs) <= 315 and 310 <= min(ys) <= 325 and max(ys) >= 540
            assert [z.id for z in saved.zones] == ["loading_dock", "lawn_storage"]
            after_save = cfg.read_text()
            check = subprocess.run([sys.executable, "-m", "floorwatch.cli.main", "config", "check", str(cfg)],
                                   capture_output=True, text=True, timeout=120)  # fmt: skip
            assert check.returncode == 0, check.stderr  # what `replay --camera dock-cam` loads at start

            page.reload()
            expect(page.locator('#overlay polygon[data-zone="lawn_storage"]')).to_have_count(1)
            expect(page.locator('#overlay polygon[data-zone="loading_dock"]')).to_have_count(1)

            # A bow tie (corners out of order) and two corners are refused; the file is untouched.
            expect(page.locator("#zone-editor")).to_have_attribute("data-ready", "yes")
            _click(page, [(0.1, 0.1), (0.3, 0.3), (0.3, 0.1), (0.1, 0.3)])
            page.fill("#zone-id", "bow_tie")
            page.click("#save")
            expect(page.locator("#save-error")).to_contain_text("crosses itself")
            page.click("#clear")
            _click(page, [(0.1, 0.1), (0.3, 0.3)])
            page.fill("#zone-id", "two_points")
            page.click("#save")
            expect(page.locator("#save-error")).to_contain_text("needs at least 3 points, got 2")
            page.screenshot(path=str(ARTIFACTS / "zone-editor-refused.png"), full_page=True)
            assert cfg.read_text() == after_save
            assert len(list(cfg.parent.glob("floorwatch.yaml.*.bak"))) == 1
            assert not list(cfg.parent.glob(".floorwatch.yaml.*"))  # no temporary file left behind
        finally:
            browser.close()
    changes = httpx.get(f"{url}/api/config/changes").json()
    assert [c["action"] for c in changes] == ["zone_editor"]
