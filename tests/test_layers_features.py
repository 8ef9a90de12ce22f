"""OGC API Features over the declared layers, against a real seeded PostGIS."""

from __future__ import annotations

import csv
import io

import psycopg
import pytest

from data.permissions import roles_for
from layers import registry
from layers.query import NEXT_PAGE_MIN_LIMIT
from tests.test_layers_support import COMMANDER, EXPECTED_COUNTS, PLANNER, api, count, layers_template, role, seeded_ro  # noqa: F401

PROBLEM = "application/problem+json"


def test_landing_conformance_and_catalogue(api):  # noqa: F811
    landing = api.get("/").json()
    rels = {link["rel"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= rels
    conf = api.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conf
    anonymous = {c["id"] for c in api.get("/collections").json()["collections"]}
    signed_in = {c["id"] for c in api.get("/collections", headers=COMMANDER).json()["collections"]}
    public = {lay.id for lay in registry.all_layers() if not lay.restricted}
    assert anonymous == public
    # A signed-in user sees every layer whose action the role may do (the scenarios' only for planners, admins).
    assert signed_in == {lay.id for lay in registry.all_layers()
                         if not lay.restricted or "commander" in roles_for(lay.access.action)}
    assert "scenario-villages" not in signed_in
    planner = {c["id"] for c in api.get("/collections", headers=PLANNER).json()["collections"]}
    assert "scenario-villages" in planner
    assert {"incidents", "patrol-points", "key-areas", "hotspots"} <= signed_in - anonymous
    communes = api.get("/collections/communes").json()
    minx, miny, maxx, maxy = communes["extent"]["spatial"]["bbox"][0]
    assert minx < maxx and miny < maxy
    assert communes["properties"]["kind"]["enum"][0] == "province"


def test_browser_gets_the_map_when_the_web_page_is_installed(api):  # noqa: F811
    api.app.state.html_index = lambda request: __import__("fastapi").responses.HTMLResponse("<p>map</p>")
    try:
        assert api.get("/", headers={"Accept": "text/html"}).text == "<p>map</p>"
        assert api.get("/?f=json", headers={"Accept": "text/html"}).json()["title"] == "sitmap"
        assert api.get("/", headers={"Accept": "application/json"}).json()["title"] == "sitmap"
    finally:
        api.app.state.html_index = None


def test_every_layer_pages_to_exactly_the_database_rows(api, seeded_ro):  # noqa: F811
    assert set(EXPECTED_COUNTS) == {lay.id for lay in registry.all_layers()}
    for layer_id, query in EXPECTED_COUNTS.items():
        want = count(seeded_ro, query)
        assert want > 0, layer_id
        seen: list = []
        url = f"/collections/{layer_id}/items?limit=97"
        pages = 0
        layer = registry.get(layer_id)
        who = COMMANDER if not layer.restricted or "commander" in roles_for(layer.access.action) else PLANNER
        while url:
            body = api.get(url, headers=who).json()
            seen += [f["id"] for f in body["features"]]
            assert body["numberReturned"] == len(body["features"])
            assert body.get("numberMatched", want) == want
            url = next((lk["href"] for lk in body["links"] if lk["rel"] == "next"), None)
            pages += 1
        assert len(seen) == len(set(seen)) == want, layer_id
        # The first page has the size asked for; next links ask for at least NEXT_PAGE_MIN_LIMIT.
        assert pages == 1 + -(-max(0, want - 97) // max(97, NEXT_PAGE_MIN_LIMIT))


def test_next_links_ask_for_large_pages_and_prev_links_keep_the_size(api):  # noqa: F811
    body = api.get("/collections/incidents/items?limit=10", headers=COMMANDER).json()
    assert body["numberReturned"] == 10
    nxt = next(lk["href"] for lk in body["links"] if lk["rel"] == "next")
    assert "offset=10" in nxt and f"limit={NEXT_PAGE_MIN_LIMIT}" in nxt
    second = api.get(nxt, headers=COMMANDER).json()
    assert second["numberReturned"] == min(NEXT_PAGE_MIN_LIMIT, second["numberMatched"] - 10)
    big = api.get("/collections/incidents/items?limit=5000", headers=COMMANDER).json()
    assert all("limit=5000" in lk["href"] for lk in big["links"] if lk["rel"] == "next")


def test_limit_is_clamped_and_bad_values_are_400(api):  # noqa: F811
    body = api.get("/collections/incidents/items?limit=50000", headers=COMMANDER).json()
    assert body["numberReturned"] == min(10_000, body["numberMatched"])
    for query, parameter in [("limit=0", "limit"), ("limit=ten", "limit"), ("offset=-1", "offset"),
                             ("bbox=1,2,3", "bbox"), ("bbox=a,b,c,d", "bbox"), ("bbox=103,22,102,21", "bbox"),
                             ("bbox=0,0,200,10", "bbox"), ("datetime=yesterday", "datetime"),
                             ("datetime=2025-02-01/2025-01-01", "datetime"), ("datetime=../..", "datetime"),
                             ("datetime=2025-01-01T00:00:00", "datetime"), ("severity=awful", "severity"),
                             ("unit_id=x", "unit_id"), ("colour=red", "colour"), ("f=xml", "f")]:
        r = api.get(f"/collections/incidents/items?{query}", headers=COMMANDER)
        assert r.status_code == 400, query
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["parameter"] == parameter, query
    assert "particularly_serious" in api.get("/collections/incidents/items?severity=x", headers=COMMANDER
                                             ).json()["detail"]


@pytest.mark.parametrize("query, parameter", [
    ("offset=9223372036854775808", "offset"), ("offset=99999999999999999999999", "offset"),
    ("datetime=9999-12-31T23:00:00-05:00", "datetime"), ("datetime=0001-01-01T00:00:00%2B14:00/..", "datetime"),
    ("name=a%00b", "name"), ("bbox=%00", "bbox"), ("datetime=2025-01-01%00", "datetime"),
])
def test_inputs_at_the_edges_are_400_not_500(api, query, parameter):  # noqa: F811
    for layer in ("incidents", "communes"):
        r = api.get(f"/collections/{layer}/items?{query}", headers=COMMANDER)
        assert r.status_code == 400, (layer, query, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["parameter"] == parameter
    if parameter != "offset":  # tiles take no offset
        tile = api.get(f"/collections/incidents/tiles/WebMercatorQuad/8/113/200?{query}", headers=COMMANDER)
        assert tile.status_code == 400, (query, tile.text)


@pytest.mark.parametrize("query", ["datetime=0001-01-01T00:00:00Z/..", "datetime=../9999-12-31",
                                   "datetime=9999-12-31", "datetime=0001-01-01", "offset=9223372036854775807"])
def test_the_ends_of_the_calendar_and_of_bigint_are_valid_queries(api, seeded_ro, query):  # noqa: F811
    r = api.get(f"/collections/incidents/items?{query}", headers=COMMANDER)
    assert r.status_code == 200, r.text
    everything = count(seeded_ro, "SELECT count(*) FROM incident")
    expected = {"datetime=0001-01-01T00:00:00Z/..": everything, "datetime=../9999-12-31": everything}
    assert r.json()["numberReturned"] == min(100, expected.get(query, 0))


def test_unknown_collection_and_feature_are_404(api):  # noqa: F811
    for path in ["/collections/nope", "/collections/nope/items", "/collections/incidents/items/not-a-uuid",
                 "/collections/incidents/items/00000000-0000-0000-0000-000000000000",
                 "/collections/communes/items/999999", "/collections/communes/items/99999999999999999999999"]:
        r = api.get(path, headers=COMMANDER)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith(PROBLEM)


def test_bbox_datetime_and_property_filters_match_sql(api, seeded_ro):  # noqa: F811
    def matched(query: str) -> int:
        body = api.get(f"/collections/incidents/items?limit=10000&{query}", headers=COMMANDER).json()
        assert body["numberMatched"] == body["numberReturned"]
        return body["numberReturned"]

    box = (103.0, 21.3, 103.2, 21.6)
    assert matched("bbox=" + ",".join(map(str, box))) == count(
        seeded_ro, "SELECT count(*) FROM incident WHERE ST_Intersects(geom, ST_MakeEnvelope(%s,%s,%s,%s,4326))", box)
    assert matched("datetime=2025-03-01T00:00:00Z/2025-06-30T23:59:59Z") == count(
        seeded_ro, "SELECT count(*) FROM incident WHERE occurred_at BETWEEN '2025-03-01' AND '2025-06-30 23:59:59Z'")
    assert matched("datetime=../2025-03-01") == count(
        seeded_ro, "SELECT count(*) FROM incident WHERE occurred_at < '2025-03-02'")
    assert matched("datetime=2025-03-01/..") == count(
        seeded_ro, "SELECT count(*) FROM incident WHERE occurred_at >= '2025-03-01'")
    assert matched("severity=serious&category=drugs") == count(
        seeded_ro, "SELECT count(*) FROM incident WHERE severity = 'serious' AND category = 'drugs'")
    assert matched("unit_id=7") == count(seeded_ro, "SELECT count(*) FROM incident WHERE unit_id = 7")
    # A quote in a value is data, not SQL.
    r = api.get("/collections/villages/items?name=x' OR '1'='1")
    assert r.status_code == 200 and r.json()["numberReturned"] == 0


def test_stations_default_to_those_in_service_and_datetime_reaches_back(api, seeded_ro):  # noqa: F811
    now = api.get("/collections/stations/items?limit=1000").json()["features"]
    assert {f["properties"]["kind"] for f in now} == {"commune_police"}
    before = api.get("/collections/stations/items?limit=1000&datetime=2024-06-01").json()["features"]
    assert {f["properties"]["kind"] for f in before} == {"district_police"}
    assert len(before) == count(seeded_ro, "SELECT count(*) FROM station WHERE valid_to = '2025-02-28'")
    old_id = before[0]["id"]
    assert api.get(f"/collections/stations/items/{old_id}").json()["properties"]["kind"] == "district_police"


def test_restricted_layers_need_a_principal_and_are_scoped_by_commune(api, seeded_ro):  # noqa: F811
    r = api.get("/collections/incidents/items")
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
    assert api.get("/collections/incidents/tiles/WebMercatorQuad/8/112/201").status_code == 401
    officer = role("officer", [3, 5])
    body = api.get("/collections/incidents/items?limit=10000", headers=officer).json()
    assert {f["properties"]["unit_id"] for f in body["features"]} == {3, 5}
    assert body["numberReturned"] == count(seeded_ro, "SELECT count(*) FROM incident WHERE unit_id IN (3, 5)")
    other = count(seeded_ro, "SELECT count(*) FROM incident WHERE unit_id = 9")
    assert other > 0
    outside = api.get("/collections/incidents/items?unit_id=9", headers=officer).json()
    assert outside["numberReturned"] == 0
    some_id = api.get("/collections/incidents/items?unit_id=9", headers=COMMANDER).json()["features"][0]["id"]
    assert api.get(f"/collections/incidents/items/{some_id}", headers=officer).status_code == 404
    assert api.get(f"/collections/incidents/items/{some_id}", headers=COMMANDER).status_code == 200


def test_hot_spot_cells_are_scoped_by_the_commune_that_holds_them(api, seeded_ro):  # noqa: F811
    # The database assigns each cell its commune (a trigger, as for incidents); the seed puts one cell of the
    # latest run inside each of the communes 1-6.
    latest = ("SELECT unit_id FROM hotspot_cell WHERE run_id = "
              "(SELECT max(id) FROM hotspot_run WHERE analysis = 'gi_star')")
    with psycopg.connect(seeded_ro) as c:
        assert sorted(r[0] for r in c.execute(latest)) == [1, 2, 3, 4, 5, 6]
    everyone = api.get("/collections/hotspots/items", headers=COMMANDER).json()["features"]
    assert sorted(f["properties"]["unit_id"] for f in everyone) == [1, 2, 3, 4, 5, 6]
    mine = api.get("/collections/hotspots/items", headers=role("officer", [3, 5])).json()["features"]
    assert sorted(f["properties"]["unit_id"] for f in mine) == [3, 5]
    elsewhere = next(f["id"] for f in everyone if f["properties"]["unit_id"] == 1)
    assert api.get(f"/collections/hotspots/items/{elsewhere}", headers=role("officer", [3, 5])).status_code == 404


def test_planners_do_not_see_personal_details(api):  # noqa: F811
    full = api.get("/collections/incidents/items?limit=5", headers=COMMANDER).json()["features"]
    assert all("reporter_name" in f["properties"] and "description" in f["properties"] for f in full)
    redacted = api.get("/collections/incidents/items?limit=5", headers=PLANNER).json()["features"]
    assert redacted and all("reporter_name" not in f["properties"] and "description" not in f["properties"]
                            for f in redacted)
    text = api.get("/collections/incidents/items?limit=5&f=csv", headers=PLANNER).text
    assert "reporter_name" not in text and "Nguyễn" not in text
    # Filtering on a personal field would leak it: it is not a filter.
    assert api.get("/collections/incidents/items?reporter_name=x", headers=COMMANDER).status_code == 400


@pytest.mark.parametrize("layer_id", ["incidents", "patrol-points", "key-areas", "stations", "villages"])
def test_features_name_their_commune_and_tiles_leave_it_out(api, seeded_ro, layer_id):  # noqa: F811
    with psycopg.connect(seeded_ro) as c:
        names = dict(c.execute("SELECT id, name FROM admin_unit").fetchall())
    feats = api.get(f"/collections/{layer_id}/items?limit=200", headers=COMMANDER).json()["features"]
    with_unit = [f["properties"] for f in feats if f["properties"]["unit_id"] is not None]
    assert with_unit and all(p["unit_name"] == names[p["unit_id"]] for p in with_unit)
    fields = api.get(f"/collections/{layer_id}/tiles/WebMercatorQuad", headers=COMMANDER).json()[
        "vector_layers"][0]["fields"]
    assert "unit_id" in fields and "unit_name" not in fields


def test_patrol_points_overdue_is_computed_now(api, seeded_ro):  # noqa: F811
    feats = api.get("/collections/patrol-points/items?limit=1000", headers=COMMANDER).json()["features"]
    by_id = {f["id"]: f["properties"] for f in feats}
    assert all(p["overdue"] is (i % 3 != 1) for i, p in by_id.items())
    assert all((p["last_visit_at"] is None) is (i % 3 == 2) for i, p in by_id.items())
    overdue = api.get("/collections/patrol-points/items?overdue=true&limit=1000", headers=COMMANDER).json()
    assert overdue["numberReturned"] == sum(1 for p in by_id.values() if p["overdue"])


def test_csv_opens_in_excel_with_vietnamese_intact(api):  # noqa: F811
    r = api.get("/collections/communes/items?f=csv&limit=1000")
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 45 and "wkt" in rows[0] and rows[0]["wkt"].startswith("MULTIPOLYGON")
    assert any("Phường" in row["name"] for row in rows)
    points = list(csv.DictReader(io.StringIO(api.get("/collections/villages/items?f=csv").content.decode(
        "utf-8-sig"))))
    assert 102 < float(points[0]["lon"]) < 104 and 20 < float(points[0]["lat"]) < 23


@pytest.mark.parametrize("layer_id", ["stations", "incidents"])
def test_layers_document_for_the_map(api, layer_id):  # noqa: F811
    layers = {lay["id"]: lay for lay in api.get("/layers", headers=COMMANDER).json()["layers"]}
    lay = layers[layer_id]
    assert lay["title"]["vi"] and lay["title"]["en"]
    assert lay["render"] in ("tiles", "geojson")
    assert api.get(lay["urls"]["items"], headers=COMMANDER).status_code == 200
    assert api.get(lay["urls"]["tilejson"], headers=COMMANDER).json()["vector_layers"][0]["id"] == layer_id
    labels = {e["value"]: e["label"] for e in lay["legend"]}
    if layer_id == "incidents":
        assert labels["drugs"] == {"vi": "Ma túy", "en": "Drugs"}
    assert "incidents" not in {lay["id"] for lay in api.get("/layers").json()["layers"]}
