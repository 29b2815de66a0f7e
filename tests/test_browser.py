"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against the real
``floorwatch serve`` process (uvicorn) on a free port. Nothing is downloaded at run time.

Screenshots of the dashboard and the rendered report go to ``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from floorwatch.storage.db import make_engine, session_factory, session_scope
from floorwatch.storage.migrate import upgrade
from tests.fixtures_browser import ARTIFACTS, browser_page, require_browser, serve_process, sign_in
from tests.fixtures_postgres import free_port
from tests.review_factories import populate

pytestmark = pytest.mark.browser
TOKEN = "browser-test-token-0123456789"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A filled SQLite database, a rendered report, and ``floorwatch serve`` running on it."""
    require_browser()
    base = tmp_path_factory.mktemp("browser")
    media = base / "media"
    engine = make_engine(f"sqlite:///{base / 'fw.db'}")
    upgrade(engine)
    port = free_port()
    with session_scope(session_factory(engine)) as s:
        populate(s, media, T0)
    with session_scope(session_factory(engine)) as s:
        from floorwatch.review.report import render_report

        render_report(
            s, T0, T0 + timedelta(days=7), media, media / "reports" / "last-week", f"http://127.0.0.1:{port}"
        )
    engine.dispose()
    cfg = base / "floorwatch.yaml"
    cfg.write_text(
        yaml.safe_dump({"database": {"url": f"sqlite:///{base / 'fw.db'}"}, "media": {"dir": str(media)}})
    )
    with serve_process(cfg, port, TOKEN, "/api/alerts?limit=1") as url:
        yield url, media


def test_dismiss_alert_in_browser_and_screenshots(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect

    url, media = server
    with browser_page(1280, 900) as page:
        page.goto(f"{url}/alerts")
        row = page.locator('tr[data-alert="a-wh-0"]')
        expect(row.locator("td.review")).to_have_text("none")
        expect(row.locator("img.thumb")).to_have_js_property("complete", True)
        assert row.locator("img.thumb").evaluate("img => img.naturalWidth") == 320
        page.screenshot(path=str(ARTIFACTS / "dashboard-alerts.png"), full_page=True)

        sign_in(page, url, TOKEN)
        expect(page).to_have_url(f"{url}/alerts")
        row.locator("a").first.click()
        expect(page.locator("#review-state")).to_have_text("none")
        page.fill("textarea[name=reason]", "mannequin on the floor, not a person")
        page.click("button[value=dismissed]")
        expect(page.locator("#review-state")).to_contain_text("dismissed: mannequin on the floor")
        page.screenshot(path=str(ARTIFACTS / "dashboard-alert-dismissed.png"), full_page=True)

        page.goto(f"{url}/alerts?review=dismissed")
        expect(page.locator('tr[data-alert="a-wh-0"] td.review')).to_have_text("dismissed")
        assert httpx.get(f"{url}/api/alerts/a-wh-0").json()["review"] == "dismissed"

        page.goto(f"{url}/zones/warehouse")
        page.screenshot(path=str(ARTIFACTS / "dashboard-zone.png"), full_page=True)
        page.goto(f"{url}/reports")
        page.click("text=report.html")
        expect(page.locator("section.card").first).to_have_attribute("data-zone", "warehouse")
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
