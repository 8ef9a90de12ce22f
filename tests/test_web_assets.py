"""Static files are linked with a hash of their content, so a browser never runs a stale script."""

from __future__ import annotations

import hashlib
import re

import pytest


@pytest.fixture
def client(empty_db):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from data.settings import get_settings

    with TestClient(create_app(get_settings(), database_url=empty_db)) as c:
        yield c


@pytest.mark.parametrize("page", ["/web/map", "/web/m"])
def test_pages_link_their_own_files_by_content_hash(client, page):
    html = client.get(page).text
    linked = re.findall(r'(?:src|href)="(/static/[^"?]+)\?v=([0-9a-f]+)"', html)
    own = {path for path, _ in linked if "/static/sitmap/" in path}
    assert {"/static/sitmap/common.js", "/static/sitmap/sitmap.css"} <= own
    for path, version in linked:
        r = client.get(f"{path}?v={version}")
        assert r.status_code == 200, path
        assert hashlib.sha256(r.content).hexdigest().startswith(version), path
    assert not re.search(r'(?:src|href)="/static/[^"?]+"', html), "a static file is linked without its version"


def test_the_phone_service_worker_caches_the_same_versioned_files(client):
    page = client.get("/web/m").text
    worker = client.get("/web/sw.js").text
    urls = re.findall(r'(?:src|href)="(/static/[^"]+\?v=[0-9a-f]+)"', page)
    assert any("/static/sitmap/phone.js" in u for u in urls)
    for url in urls:
        assert f'"{url}"' in worker, url
