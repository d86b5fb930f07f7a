"""The stats page at /: served by the admin listener, and live in a real browser (Debian's
chromium driven by Playwright): it shows a server going down when its backend dies, and
its drain button drains a server once the token is entered."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.admin.conftest import TOKEN, Admin

CHECK = {"interval": "0.1s", "timeout": "0.1s", "rise": 1, "fall": 1}
CHROMIUM = shutil.which("chromium")  # Debian's package (.ci/run installs it); no browser download


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None, "the stats page test needs chromium: apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Browser, url: str, errors: list[str]) -> Page:
    page = browser.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(url)
    return page


def test_the_page_shows_a_dead_server_and_drains_another(admin: Callable[..., Admin],
                                                         browser: Browser) -> None:
    running = admin(2, pool={"algorithm": "round_robin", "health_check": CHECK})
    first, second = (server.key for server in running.pool().servers)
    errors: list[str] = []
    page = open_page(browser, running.url + "/", errors)
    row = {address: page.locator(f'section[data-pool="p"] tr[data-server="{address}"]')
           for address in (first, second)}
    expect(row[second].locator("td.state")).to_have_text("up")
    expect(row[first].locator('button[data-action="drain"]')).to_be_disabled()  # no token yet

    running.running.loop.run(running.running.backends[1].stop())
    expect(row[second].locator("td.state")).to_have_text("DOWN", timeout=10_000)
    expect(row[second]).to_have_attribute("data-health", "down")

    page.fill("#token", TOKEN)
    page.click("#token-form button[type=submit]")
    row[first].locator('button[data-action="drain"]').click()
    expect(row[first]).to_have_attribute("data-state", "drain", timeout=10_000)
    expect(row[first].locator("td.state")).to_have_text("drain")
    assert running.get(f"/api/pools/p/servers/{first}").json()["state"] == "drain"
    assert errors == []


def test_the_page_works_without_a_token_on_loopback(admin: Callable[..., Admin], browser: Browser) -> None:
    # No token: the API's loopback Host guard stays on, and the page (on 127.0.0.1) passes it.
    running = admin(1, admin_config={"token": None})
    errors: list[str] = []
    page = open_page(browser, running.url + "/", errors)
    address = running.pool().servers[0].key
    expect(page.locator(f'tr[data-server="{address}"] td.state')).to_have_text("up")
    assert errors == []


def test_page_and_files_are_served_with_a_strict_policy(admin: Callable[..., Admin]) -> None:
    running = admin(admin_config={"read_requires_token": True})
    page = running.get("/", token=None)  # the page itself holds no state: no token needed
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<script src="/static/dashboard.js"' in page.text
    script = running.get("/static/dashboard.js", token=None)
    assert script.status_code == 200 and "setInterval(refresh" in script.text
    assert running.get("/static/dashboard.css", token=None).status_code == 200
    assert running.get("/static/../app.py", token=None).status_code == 404
    assert running.get("/api/pools", token=None).status_code == 401, "the data still needs the token"
