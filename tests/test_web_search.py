"""Unit search: diacritics ignored, both eras, former units with what they became, spelling variants."""

from __future__ import annotations

import psycopg
import pytest

from data.ops.unit_search import fold


@pytest.fixture(scope="module")
def client(demo_db):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from data.settings import get_settings

    with TestClient(create_app(get_settings(), database_url=demo_db)) as c:
        yield c


def test_fold_handles_vietnamese_letters():
    assert fold("Thị trấn Mường Chà") == "thi tran muong cha"
    assert fold("ĐIỆN BIÊN Đông") == "dien bien dong"
    assert fold("  Nậm   Pồ ") == "nam po"


def test_muong_cha_finds_both_eras(client):
    r = client.get("/search/units", params={"q": "muong cha"})
    assert r.status_code == 200
    items = r.json()["items"]
    by_name = {(i["name"], i["era"]): i for i in items}
    current = by_name[("Xã Mường Chà", "2025")]
    assert current["former"] is False and current["became"] == []
    township = next(i for i in items if i["name"] == "Thị trấn Mường Chà")
    district = next(i for i in items if i["name"] == "Huyện Mường Chà")
    assert township["former"] and district["former"]
    assert township["became"] and district["became"]
    # What the district became is what its communes became: more than one 2025 unit.
    assert len(district["became"]) > len(township["became"]) >= 1
    # Current units come first.
    assert items.index(current) < items.index(township)
    assert all(len(i["bbox"]) == 4 and i["bbox"][0] <= i["bbox"][2] for i in items)


def test_same_answer_with_and_without_diacritics(client):
    plain = client.get("/search/units", params={"q": "muong cha"}).json()["items"]
    marked = client.get("/search/units", params={"q": "Mường Chà"}).json()["items"]
    assert [i["id"] for i in plain] == [i["id"] for i in marked]


def test_spelling_variants_of_the_lineage_are_found(client, demo_db):
    with psycopg.connect(demo_db) as conn:
        rows = conn.execute(
            "SELECT o.name, l.old_name_resolution FROM admin_lineage l JOIN admin_unit o ON o.id = l.old_unit_id "
            "WHERE l.old_name_resolution IS NOT NULL AND l.old_name_resolution <> o.name").fetchall()
    assert rows, "the demo's lineage records spelling variants"
    for name, variant in rows:
        items = client.get("/search/units", params={"q": fold(variant).split(" ", 1)[1]}).json()["items"]
        hit = next((i for i in items if i["name"] == name), None)
        assert hit is not None, f"{variant!r} should find {name!r}"
        assert hit["former"] and hit["variant"] == variant


@pytest.mark.parametrize("q", ["", "a", "  "])
def test_too_short_query_is_a_problem(client, q):
    r = client.get("/search/units", params={"q": q})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "at least 2 letters" in r.json()["detail"]
