"""The service description is valid OpenAPI 3.0, as the oas30 conformance class claims."""

from __future__ import annotations

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError


def test_openapi_document_is_valid_openapi_3_0(make_client, empty_db: str) -> None:
    client = make_client(empty_db)
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.0.")
    conformance = client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30" in conformance
    try:
        validate(doc)
    except OpenAPIValidationError as exc:  # pragma: no cover - the assertion below reports it
        raise AssertionError(f"invalid OpenAPI 3.0: {exc.message} at {list(exc.absolute_path)}") from None
    # Every operation sitmap serves is described.
    paths = set(doc["paths"])
    for expected in ("/collections/{collection_id}/items", "/incidents", "/live", "/auth/token", "/health"):
        assert expected in paths
