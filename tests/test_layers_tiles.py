"""Vector tiles, caching and the one-declaration promise, against a real seeded PostGIS."""

from __future__ import annotations

import math
import uuid
from datetime import datetime

import mapbox_vector_tile
import psycopg
import pytest

from layers import registry
from layers.model import Access, Layer, Prop
from tests.test_layers_support import (  # noqa: F401
    COMMANDER,
    PLANNER,
    api,
    count,
    layers_template,
    role,
    seeded_db,
    seeded_ro,
)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body)


@pytest.mark.parametrize("z", range(6, 16))
def test_tiles_decode_at_every_zoom_with_names_and_properties(api, seeded_ro, z):  # noqa: F811
    # A commune's interior point: every zoom's tile around it holds that commune and its incidents.
    with psycopg.connect(seeded_ro) as c:
        lon, lat = c.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_unit "
                             "WHERE id = 1) s").fetchone()
    x, y = tile_of(lon, lat, z)
    r = api.get(f"/collections/communes/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert len(r.content) < 500_000
    layer = decode(r.content)["communes"]
    assert any(f["properties"]["code"] for f in layer["features"])
    assert {"name", "kind", "population"} <= set(layer["features"][0]["properties"])
    # Integer ids travel as the MVT feature id, not as a property.
    with psycopg.connect(seeded_ro) as c:
        codes = dict(c.execute("SELECT id, code FROM admin_unit").fetchall())
    assert all(codes[f["id"]] == f["properties"]["code"] for f in layer["features"])
    r = api.get(f"/tiles/incidents/{z}/{x}/{y}.mvt", headers=COMMANDER)
    assert len(r.content) < 500_000
    if r.status_code == 200:
        feats = decode(r.content)["incidents"]["features"]
        assert {"category", "severity", "status", "occurred_at", "unit_id"} <= set(feats[0]["properties"])
        assert all("reporter_name" not in f["properties"] and "id" not in f["properties"] for f in feats)
        # The feature id is the incident's number, which finds the feature (what the map's popup does).
        assert len({f["id"] for f in feats}) == len(feats)
        found = api.get(f"/collections/incidents/items?number={feats[0]['id']}", headers=COMMANDER).json()
        assert found["numberReturned"] == 1
        feature = found["features"][0]["properties"]
        assert feature["category"] == feats[0]["properties"]["category"]
        # Datetimes travel in tiles as integer seconds since 1970 (UTC).
        assert feats[0]["properties"]["occurred_at"] == int(
            datetime.fromisoformat(feature["occurred_at"].replace("Z", "+00:00")).timestamp())
    else:
        assert r.status_code == 204 and z >= 12  # only a deep tile may miss every incident


def test_empty_tile_is_204_and_bad_coordinates_are_400(api):  # noqa: F811
    r = api.get("/collections/communes/tiles/WebMercatorQuad/10/0/0")
    assert r.status_code == 204 and r.content == b""
    for path in ["/collections/communes/tiles/WebMercatorQuad/3/8/0", "/collections/communes/tiles/WebMercatorQuad/"
                 "30/0/0"]:
        bad = api.get(path)
        assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    assert api.get("/collections/nope/tiles/WebMercatorQuad/1/0/0").status_code == 404


def test_etag_cache_control_and_304(api):  # noqa: F811
    x, y = tile_of(103.0, 21.4, 9)
    public = api.get(f"/collections/communes/tiles/WebMercatorQuad/9/{y}/{x}")
    assert "public" in public.headers["cache-control"] and "max-age" in public.headers["cache-control"]
    again = api.get(f"/collections/communes/tiles/WebMercatorQuad/9/{y}/{x}",
                    headers={"If-None-Match": public.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    restricted = api.get(f"/collections/incidents/tiles/WebMercatorQuad/9/{y}/{x}", headers=COMMANDER)
    assert restricted.headers["cache-control"].startswith("private")
    assert "public" not in restricted.headers["cache-control"]
    scoped = api.get(f"/collections/incidents/tiles/WebMercatorQuad/9/{y}/{x}", headers=role("officer", [1]))
    assert scoped.headers["etag"] != restricted.headers["etag"]
    assert len(decode(scoped.content)["incidents"]["features"]) < len(decode(restricted.content)["incidents"][
        "features"])
    assert {f["properties"]["unit_id"] for f in decode(scoped.content)["incidents"]["features"]} == {1}


def test_a_write_invalidates_cached_tiles(make_client, seeded_db):  # noqa: F811
    client = make_client(seeded_db, data_version_ttl_s=0.0)
    x, y = tile_of(103.02, 21.39, 11)
    url = f"/collections/incidents/tiles/WebMercatorQuad/11/{y}/{x}"
    first = client.get(url, headers=COMMANDER)
    assert client.get(url, headers=COMMANDER).headers["x-tile-cache"] == "hit"
    new_id = uuid.uuid4()
    with psycopg.connect(seeded_db, autocommit=True) as c:
        number = c.execute(
            "INSERT INTO incident (id, category, severity, occurred_at, geom) VALUES (%s, 'weapons_explosives', "
            "'particularly_serious', now(), ST_SetSRID(ST_MakePoint(%s, %s), 4326)) RETURNING number",
            (new_id, 103.02, 21.39)).fetchone()[0]
    after = client.get(url, headers=COMMANDER)
    assert after.headers["x-tile-cache"] == "miss" and after.headers["etag"] != first.headers["etag"]
    assert number in {f["id"] for f in decode(after.content)["incidents"]["features"]}
    assert client.get(url, headers={"If-None-Match": first.headers["etag"], **COMMANDER}).status_code == 200


def test_a_new_layer_is_one_declaration(make_client, seeded_db):  # noqa: F811
    with psycopg.connect(seeded_db, autocommit=True) as c:
        c.execute("INSERT INTO border_crossing (name, country, kind, geom) SELECT 'Cửa khẩu ' || g, 'Laos', "
                  "'main', ST_SetSRID(ST_MakePoint(102.9 + g * 0.001, 21.3), 4326) FROM generate_series(1, 30) g")
    layer = Layer(id="border-crossings-test", title_vi="Cửa khẩu", title_en="Border crossings",
                  description="test layer", source="border_crossing", geometry_type="Point",
                  properties=(Prop("name"), Prop("country"), Prop("kind")), access=Access(public=True),
                  tables=("border_crossing",), tile_geom_column=None, priority="name DESC", tile_cap=5)
    registry.register(layer)
    try:
        client = make_client(seeded_db, data_version_ttl_s=0.0)
        assert "border-crossings-test" in {c["id"] for c in client.get("/collections").json()["collections"]}
        body = client.get("/collections/border-crossings-test/items?limit=100").json()
        assert body["numberMatched"] == 30 and body["features"][0]["properties"]["country"] == "Laos"
        assert client.get("/collections/border-crossings-test/items?country=Laos").json()["numberMatched"] == 30
        x, y = tile_of(102.915, 21.3, 12)
        r = client.get(f"/collections/border-crossings-test/tiles/WebMercatorQuad/12/{y}/{x}")
        assert r.status_code == 200 and "5 features kept" in r.headers["x-tile-capped"]
        names = sorted(f["properties"]["name"] for f in decode(r.content)["border-crossings-test"]["features"])
        # The cap keeps the declared priority's first five: the names sorted descending.
        assert names == sorted(f"Cửa khẩu {g}" for g in range(1, 31))[-5:]
        assert client.get("/layers").json()["layers"][-1]["id"] == "border-crossings-test"
    finally:
        registry.unregister("border-crossings-test")


def test_incident_tiles_are_capped_most_serious_first(make_client, seeded_db):  # noqa: F811
    with psycopg.connect(seeded_db, autocommit=True) as c:
        c.execute("""INSERT INTO incident (id, category, severity, occurred_at, geom)
                     SELECT gen_random_uuid(), 'theft', CASE WHEN g <= 50 THEN 'particularly_serious'
                            ELSE 'administrative' END, now() - g * interval '1 hour',
                            ST_SetSRID(ST_MakePoint(103.02 + (g % 100) * 0.0001, 21.39 + (g / 100) * 0.0001), 4326)
                       FROM generate_series(1, 5000) g""")
    client = make_client(seeded_db, data_version_ttl_s=0.0)
    x, y = tile_of(103.025, 21.392, 13)
    r = client.get(f"/collections/incidents/tiles/WebMercatorQuad/13/{y}/{x}", headers=COMMANDER)
    assert "x-tile-capped" in r.headers
    feats = decode(r.content)["incidents"]["features"]
    cap = registry.get("incidents").tile_cap
    assert len(feats) == cap
    severities = [f["properties"]["severity"] for f in feats]
    assert severities.count("particularly_serious") >= 50
    assert len(r.content) < 500_000


def test_tilejson_and_tilesets(api):  # noqa: F811
    tj = api.get("/collections/incidents/tiles/WebMercatorQuad", headers=PLANNER).json()
    assert tj["tilejson"] == "3.0.0" and "{z}" in tj["tiles"][0]
    fields = tj["vector_layers"][0]["fields"]
    assert "severity" in fields and "reporter_name" not in fields
    sets = api.get("/collections/communes/tiles").json()["tilesets"][0]
    assert sets["dataType"] == "vector" and sets["tileMatrixSetURI"].endswith("WebMercatorQuad")
