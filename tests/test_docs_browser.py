"""``/docs`` and ``/redoc`` in a real browser (Debian chromium) with every request to another host aborted:
they render the API's operations from the vendored assets, under the pages' Content-Security-Policy, with no
console error (a blocked script, style or font would log one)."""

from __future__ import annotations

import pytest

from tests.test_web_browser import CHROMIUM_ARGS

pytestmark = pytest.mark.browser


@pytest.fixture
def docs_site(world, start_server) -> str:
    return start_server(world.url)


def _open(docs_site: str, path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            foreign: list[str] = []
            errors: list[str] = []

            def route(r) -> None:
                if r.request.url.startswith(docs_site + "/") or r.request.url.startswith(("data:", "blob:")):
                    r.continue_()
                else:
                    foreign.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(docs_site + path)
            yield page, foreign, errors
        finally:
            browser.close()


def test_swagger_ui_renders_the_operations_offline(docs_site) -> None:
    for page, foreign, errors in _open(docs_site, "/docs"):
        page.wait_for_selector(".opblock-summary-path", timeout=20000)
        paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.innerText)")
        assert "/incidents" in [p.strip() for p in paths] and "/auth/token" in [p.strip() for p in paths]
        assert page.locator(".swagger-ui .info .title").inner_text().startswith("sitmap")
        assert foreign == [] and errors == []


def test_redoc_renders_the_operations_offline(docs_site) -> None:
    for page, foreign, errors in _open(docs_site, "/redoc"):
        page.wait_for_selector("[data-section-id^='tag/incidents']", timeout=20000)
        assert page.locator("h1").first.inner_text().startswith("sitmap")
        # ReDoc always shows Redocly's logo from cdn.redoc.ly under its menu; the page policy blocks it
        # before any request is made (and ReDoc then hides the image). Nothing else may be refused.
        assert foreign == []
        assert [e for e in errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []
