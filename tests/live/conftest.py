"""Session fixtures for live tests: the real stack (`live_stack`, started once per session and
shared by every test under tests/live/) and a logged-in Chromium page (`browser_page`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from include.store.config import S3Settings
from tests.live_stack import CHROMIUM, CHROMIUM_ARGS, USER, LiveStack, RestClient, ensure_chromium

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / ".qflow"
SCREENSHOTS = STATE / "screenshots"


@pytest.fixture(scope="session")
def live_stack(s3_settings: S3Settings, qflow_env: dict[str, str]) -> Iterator[LiveStack]:
    stack = LiveStack(root=STATE / "live", s3_env=qflow_env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def rest(live_stack: LiveStack) -> Iterator[RestClient]:
    client = live_stack.rest()
    yield client
    client.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# Module scope: Playwright's sync API runs an asyncio loop in this thread while it is open, and
# tests after the browser module (the triggers' asyncio.run) need the thread without one.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    reason = ensure_chromium()
    if reason:
        pytest.skip(f"no browser: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def browser_page(chromium: Any, live_stack: LiveStack, screenshots: Path) -> Iterator[Any]:
    """One page, logged in through the real login form as the simple auth manager's admin."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, base_url=live_stack.base_url)
    page = context.new_page()
    page.set_default_timeout(90_000)  # the UI bundle is slow to load on a busy 2-core machine
    page.goto("/")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(live_stack.password)
    page.screenshot(path=str(screenshots / "00_login.png"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/" not in url)
    yield page
    context.close()
