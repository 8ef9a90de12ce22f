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


def test_page_parameters_and_problem_responses_are_documented(make_client, empty_db: str) -> None:
    doc = make_client(empty_db).get("/openapi.json").json()
    items = doc["paths"]["/collections/{collection_id}/items"]["get"]
    params = {p["$ref"].rsplit("/", 1)[1] for p in items["parameters"] if "$ref" in p}
    assert params == {"limit", "offset"}
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert limit == {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 100}
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    assert doc["components"]["schemas"]["ProblemDetails"]["required"] == ["type", "title", "status", "detail"]
    expected = {
        ("get", "/collections/{collection_id}/items"): {"400", "401", "403", "404", "503"},
        ("post", "/incidents"): {"400", "401", "403", "409", "413", "422", "503"},
        ("post", "/auth/token"): {"400", "401", "413", "422", "429", "503"},
        ("get", "/health"): {"503"},
    }
    for (method, path), codes in expected.items():
        responses = doc["paths"][path][method]["responses"]
        problems = {code for code, r in responses.items() if code >= "400"}
        assert problems == codes, (method, path, problems)
        assert all(responses[code]["content"] == problem for code in codes)
    assert "HTTPValidationError" not in doc["components"]["schemas"]  # sitmap never answers FastAPI's shape
