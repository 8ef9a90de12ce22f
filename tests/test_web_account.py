"""The forced password change on the commanders' map in a real browser (Debian chromium through Playwright):
a new account signs in, the change-password form opens over the map and cannot be dismissed, a wrong current
password and a mismatch are told in the form, the change goes through, and then the map is the user's map.
Also the header's "change password" entry of a user who is not forced."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from data.ops import accounts, signin, users
from tests.conftest import clone_database, drop_database, free_port

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("SITMAP_TEST_ARTIFACTS", "test-artifacts"))
FIRST = "first-password-1"
NEW = "my own passphrase 2"


@dataclass
class Site:
    base: str
    db: str


def _poll(condition, timeout: float = 10.0, interval: float = 0.05):
    """Wait for ``condition()`` to be truthy (a poll, not a fixed sleep); return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        select.select([], [], [], interval)


async def _add_users(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        # As `sitmap user add` does it: the new account must change its password.
        await accounts.add_user(conn, "web_newbie", "commander", FIRST, [], force_change=True)
        await users.add_user(conn, "web_steady", "commander", signin.hash_password(FIRST), [])


@pytest.fixture(scope="module")
def site(cluster, demo_template) -> Iterator[Site]:
    url = clone_database(cluster, demo_template)
    # Playwright's sync API may already own this thread's event loop: run the async ops in another thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _add_users(url)).result()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1", "--log-level", "warning"], env={**os.environ, "DATABASE_URL": url})
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    assert _poll(ready, timeout=60), "server did not become ready"
    yield Site(base, url)
    proc.terminate()
    proc.wait(timeout=30)
    drop_database(cluster, url.split("/")[-1].split("?")[0])


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(site.base + "/")
    p.wait_for_selector("body[data-layers-ready=true]")
    p.click("#sm-lang")  # English, so the assertions read the English labels
    yield p
    assert errors == []
    context.close()


def _sign_in(page, username: str, password: str) -> None:
    page.click("#sm-signin-open")
    page.fill("#sm-signin input[name=username]", username)
    page.fill("#sm-signin input[name=password]", password)
    page.click("#sm-signin button[type=submit]")
    page.wait_for_selector(f"body[data-user={username}]")


def _flag(url: str, username: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT must_change_password FROM app_user WHERE username = %s",
                            (username,)).fetchone()[0]


def _fill(page, current: str, new: str, confirm: str | None = None) -> None:
    page.fill("#sm-account input[name=current_password]", current)
    page.fill("#sm-account input[name=new_password]", new)
    page.fill("#sm-account input[name=confirm_password]", new if confirm is None else confirm)
    page.click("#sm-account-save")


def test_a_forced_user_changes_the_password_then_sees_the_map(page, site) -> None:
    _sign_in(page, "web_newbie", FIRST)
    page.wait_for_selector("body[data-password-change=required]")
    dialog = page.locator("#sm-account")
    assert dialog.is_visible()
    assert "must change its password" in page.locator("#sm-account-forced").inner_text()
    assert page.locator("#sm-account-cancel").is_hidden()  # it cannot be dismissed...
    page.keyboard.press("Escape")
    assert dialog.is_visible()
    # ...and it covers the map: a click in the middle of the page lands on the overlay, not on the map.
    hit = page.evaluate("document.elementFromPoint(700, 450).closest('#sm-account') !== null")
    assert hit
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map-password-change-required.png"))

    _fill(page, FIRST, NEW, "something else entirely")
    page.wait_for_selector("#sm-account-error:not([hidden])")
    assert page.locator("#sm-account-error").inner_text() == "The two new passwords differ"
    _fill(page, "not the first one", NEW)
    page.wait_for_function("() => document.querySelector('#sm-account-error').textContent === "
                           "'The current password is wrong'")
    assert _flag(site.db, "web_newbie") is True

    with page.expect_navigation(timeout=20000):
        _fill(page, FIRST, NEW)
    # Accepted: the page starts again as the user's map, the form gone, the restricted layers listed.
    page.wait_for_selector("body[data-layers-for=web_newbie]", timeout=20000)
    assert page.locator("#sm-account").count() == 0 or page.locator("#sm-account").is_hidden()
    assert page.locator("body").get_attribute("data-password-change") is None
    ids = page.eval_on_selector_all("#sm-layers input", "els => els.map(e => e.dataset.layer)")
    assert "incidents" in ids
    assert page.locator("#sm-account-open").is_visible()
    assert _flag(site.db, "web_newbie") is False
    with httpx.Client() as http:
        assert http.post(f"{site.base}/auth/token", data={"username": "web_newbie", "password": NEW}).status_code == 200
    page.screenshot(path=str(ARTIFACTS / "map-after-password-change.png"))


def test_the_header_entry_changes_the_password_of_a_user_not_forced(page, site) -> None:
    assert page.locator("#sm-account-open").is_hidden()  # nobody signed in
    _sign_in(page, "web_steady", FIRST)
    page.wait_for_selector("body[data-layers-for=web_steady]")
    assert page.locator("#sm-account").count() == 0 or page.locator("#sm-account").is_hidden()
    page.click("#sm-account-open")
    page.wait_for_selector("#sm-account:not([hidden])")
    assert page.locator("#sm-account-cancel").is_visible()
    # Vietnamese too: the labels follow the language switch.
    page.evaluate("Sitmap.setLang('vi')")
    assert page.locator("#sm-account-save").inner_text() == "Lưu"
    assert page.locator("#sm-account-open").inner_text() == "Đổi mật khẩu"
    page.evaluate("Sitmap.setLang('en')")
    page.click("#sm-account-cancel")
    assert page.locator("#sm-account").is_hidden()
    page.click("#sm-account-open")
    _fill(page, FIRST, NEW)
    page.wait_for_selector("#sm-account", state="hidden")
    page.wait_for_function("() => document.getElementById('sm-toast').textContent === 'Password changed'")
    with httpx.Client() as http:
        assert http.post(f"{site.base}/auth/token", data={"username": "web_steady", "password": NEW}).status_code == 200
    assert page.evaluate("document.body.dataset.user") == "web_steady"  # still signed in on the map
