"""A running server on the demo's campus and Debian's Chromium driven by Playwright (never `playwright install`)."""

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine

from campuspulse.server.app import create_app
from tests.support.campus import AUTH, TOKEN
from tests.support.dashboard_campus import PASSWORD, seed
from tests.support.mosquitto import free_port

# Screenshots go to a scratch directory; CAMPUSPULSE_SCREENSHOTS=docs/screenshots refreshes the README's.
SCREENSHOTS = Path(os.environ.get("CAMPUSPULSE_SCREENSHOTS", Path(tempfile.gettempdir()) / "campuspulse-screenshots"))


@dataclass
class Site:
    """The server under test: its address, an admin API client, and the next seq of each agent."""

    url: str
    api: httpx.Client
    next_seq: dict[str, int]
    engine: Engine


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    store = tmp_path_factory.mktemp("dashboard") / "store.db"
    app = create_app(f"sqlite:///{store}", admin_token=TOKEN, live_every_s=0.5)
    next_seq = seed(app.state.engine)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=f"{url}/api/v1", headers=AUTH, timeout=30) as api:
        yield Site(url, api, next_seq, app.state.engine)
    server.should_exit = True
    thread.join(10)
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module: Playwright's sync API runs an event loop on this thread while it is open,
    which the asyncio tests after it must not find."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])  # root in CI: no sandbox
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    context.close()


def log_in(page: Page, site: Site, username: str, password: str = PASSWORD) -> None:
    """Log in through the form and wait for the first page after it."""
    page.goto(f"{site.url}/ui/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")
    page.wait_for_url(lambda u: "/ui/login" not in u)


def shoot(page: Page, name: str, selector: str | None = None) -> None:
    """Save a screenshot for the README: the full page, or the element `selector` names."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if selector is not None:
        page.locator(selector).screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        return
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
