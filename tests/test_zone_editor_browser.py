"""The zone editor in a real browser (Debian's headless Chromium via Playwright) against the real
``floorwatch serve --config FILE`` process: draw a zone on the camera's frame, save it into the file,
reload and see it; a self-crossing and a 2-corner polygon are refused with a clear message and the file
stays as it was."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from floorwatch.config import load_settings
from floorwatch.storage.db import make_engine
from floorwatch.storage.migrate import upgrade
from tests.conftest import REPO_ROOT
from tests.fixtures_browser import ARTIFACTS, browser_page, require_browser, serve_process, sign_in
from tests.fixtures_postgres import free_port

pytestmark = pytest.mark.browser
TOKEN = "zone-editor-token-0123456789"
VTEST = REPO_ROOT / "sample_media" / "vtest.avi"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    require_browser()
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
    with serve_process(cfg, free_port(), TOKEN, "/api/cameras/health") as url:
        yield url, cfg


def _click(page, at: list[tuple[float, float]]) -> None:  # type: ignore[no-untyped-def]
    box = page.locator("#snapshot").bounding_box()
    for fx, fy in at:
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def test_draw_save_reload_and_refusals(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    url, cfg = server
    with browser_page(1400, 1000) as page:
        page.goto(f"{url}/zones/editor?camera=dock-cam")
        expect(page.locator("#save")).to_have_count(0)  # not signed in: shows, cannot save
        expect(page.locator('#overlay polygon[data-zone="loading_dock"]')).to_have_count(1)

        sign_in(page, url, TOKEN)
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
    changes = httpx.get(f"{url}/api/config/changes").json()
    assert [c["action"] for c in changes] == ["zone_editor"]
