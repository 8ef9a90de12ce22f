"""Security headers (CSP, nosniff, frame denial), the API docs without a CDN, and the Secure session cookie
behind a trusted https proxy."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from api.headers import basemap_source, inline_script_hashes
from tests.opsworld import PASSWORD

PAGES = ["/web/map", "/web/m", "/docs", "/redoc", "/docs/oauth2-redirect"]


@pytest.mark.parametrize("path", PAGES)
def test_html_pages_carry_a_policy_that_allows_exactly_their_inline_scripts(client, path) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
    csp = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    scripts = csp["script-src"].split()
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts and scripts[0] == "'self'"
    inline = re.findall(r"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", r.text, re.S)
    assert inline or path == "/redoc", "the map pages and Swagger UI have inline set-up code"
    for code in inline:
        digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in scripts


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_reference_no_other_host(client, path) -> None:
    html = client.get(path).text
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html) == []
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html
    for ref in re.findall(r"""(?:src|href)=["']?(/static/[^"'>\s]+)""", html):
        assert client.get(ref).status_code == 200, ref


def test_json_and_problems_carry_nosniff_but_no_page_policy(client) -> None:
    for r in (client.get("/health"), client.get("/auth/me")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in r.headers


def test_the_basemap_host_is_allowed_for_images() -> None:
    assert basemap_source("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert basemap_source("http://10.1.2.3:8080/wmts/{z}/{x}/{y}.png") == "http://10.1.2.3:8080"
    assert basemap_source(None) == ""
    assert inline_script_hashes(b'<script src="/a.js"></script><script>x()</script>') == [
        "'sha256-" + base64.b64encode(hashlib.sha256(b"x()").digest()).decode() + "'"]


def test_a_configured_basemap_is_in_the_image_sources(world, make_client) -> None:
    client = make_client(world.url, basemap_url="https://tiles.example.org/{z}/{x}/{y}.png")
    csp = client.get("/web/map").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://tiles.example.org;" in csp


def _login(client, **headers):
    r = client.post("/auth/login", json={"username": "commander_a", "password": PASSWORD}, headers=headers)
    assert r.status_code == 200
    return r.headers["set-cookie"].lower()


def test_cookie_is_secure_behind_a_trusted_https_proxy_only(world, make_client) -> None:
    behind = make_client(world.url, forwarded_allow_ips="testclient")  # the test client is the proxy
    assert "secure" in _login(behind, **{"X-Forwarded-Proto": "https"}).split("; ")
    assert "secure" not in _login(behind, **{"X-Forwarded-Proto": "http"}).split("; ")
    assert "secure" not in _login(behind).split("; ")
    # Nobody trusted (the default): a client cannot claim https for itself, and plain http is not Secure.
    direct = make_client(world.url)
    assert "secure" not in _login(direct, **{"X-Forwarded-Proto": "https"}).split("; ")
    # Served over https directly, or told so by the setting: Secure.
    https = make_client(world.url)
    https.base_url = https.base_url.copy_with(scheme="https")
    assert "secure" in _login(https).split("; ")
    assert "secure" in _login(make_client(world.url, cookie_secure=True)).split("; ")
