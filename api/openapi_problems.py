"""The problem responses of every operation, written into the OpenAPI document in one place.

Routes declare only what they answer when all goes well. What can go wrong follows from rules that hold for
the whole API, so it is added here after FastAPI has built the document, not repeated on each route:

- 401 and 403 wherever the sign-in gate (``api.security.PUBLIC_PATHS``) or a layer's access can refuse, and
  403 on every write (roles, commune scope, the CSRF check of cookie sessions);
- 404 on operations with path parameters;
- 400 on operations with parameters or a body, 422 on those with a body (the rule of
  ``api.problems.validation_status``: 400 for a request that cannot be read as sent, 422 for refused values of
  a JSON body);
- 413 on operations with a body (api/body_limit.py), 429 on sign-in, 503 when the database is unreachable;
- the few statuses particular to one operation (``EXTRA``).

Every one of them is ``application/problem+json`` with the ``ProblemDetails`` schema. The ``limit`` and
``offset`` parameters of the feature pages are declared as integers with their default and bounds, so that
GIS clients that read the API definition (QGIS, GDAL 3.8 and later) choose their page size from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from api.problems import MEDIA_TYPE
from layers.query import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET

PROBLEM_REF = {"$ref": "#/components/schemas/ProblemDetails"}
PROBLEM_DETAILS = {
    "type": "object",
    "description": "RFC 9457 problem details: what was wrong and how to fix it.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What was wrong and how to fix it"},
        "instance": {"type": "string", "description": "The path of the request"},
        "parameter": {"type": "string", "description": "The query parameter at fault, if one is"},
        "errors": {"type": "array", "description": "One entry per invalid field",
                   "items": {"type": "object", "properties": {
                       "field": {"type": "string"}, "reason": {"type": "string"}}}},
    },
    "additionalProperties": True,
}

REASONS = {
    400: "Invalid request: a parameter is malformed or out of range",
    401: "Not signed in, or the sign-in has expired",
    403: "Forbidden: the role or commune scope does not allow it, or a cookie write lacks X-Requested-With",
    404: "Not found (or outside your communes)",
    409: "Conflict with the stored state",
    413: "The request body is too large",
    422: "Invalid request: the body or a parameter is not valid",
    429: "Too many sign-in attempts; wait as Retry-After says",
    503: "The database cannot be reached right now; retry later",
}
# Statuses only one operation answers, besides its success and the rules above.
EXTRA: dict[tuple[str, str], dict[int, str]] = {
    ("post", "/incidents"): {200: "The same incident was sent again (a safe retry)",
                             409: "Another incident with this id and a different body exists"},
    ("patch", "/incidents/{incident_id}"): {409: "The version is stale, or the workflow does not allow the step"},
    ("post", "/patrol-points/{point_id}/visits"): {200: "The same visit was sent again (a safe retry)",
                                                   409: "This visit id was already recorded otherwise"},
    ("put", "/stations/{station_id}/status"): {409: "The station is closed, or the version is stale"},
    # Travel analyses (api/analysis_answers.py): a point too far from a road or an unreachable pair is 422, an
    # empty road graph 409.
    ("get", "/travel/route"): {409: "No road graph has been imported",
                               422: "A point is too far from a road (distance_m, max_snap_m), or no road path "
                                    "joins the points (reason: one_way | disconnected)"},
    ("get", "/travel/isochrones"): {409: "No road graph has been imported",
                                    422: "The point or station is too far from a road (distance_m, max_snap_m)"},
    ("get", "/analyses/access"): {409: "No road graph has been imported"},
    ("get", "/analyses/savings"): {409: "No road graph has been imported"},
    ("get", "/analyses/responses"): {409: "No road graph has been imported"},
    ("get", "/analyses/coverage"): {409: "No road graph has been imported"},
    ("get", "/analyses/coverage/curve.svg"): {409: "No road graph has been imported"},
    ("post", "/analyses/sites"): {409: "No road graph has been imported"},
    ("put", "/scenarios/{scenario_id}"): {409: "The version is stale"},
    ("patch", "/scenarios/{scenario_id}"): {409: "The version is stale"},
    ("post", "/scenarios/{scenario_id}/run"): {409: "No road graph has been imported"},
    ("get", "/scenarios/{scenario_id}/curve.svg"): {409: "No road graph has been imported"},
    ("post", "/closures"): {409: "Another closure with this client id and a different body exists"},
    ("patch", "/closures/{closure_id}"): {409: "The version is stale, or the closure was reopened or has ended"},
    ("post", "/closures/{closure_id}/reopen"): {409: "The version is stale, or the closure was reopened or has "
                                                     "ended"},
    ("patch", "/patrol-schedules/{schedule_id}"): {409: "The version is stale"},
    ("delete", "/patrol-schedules/{schedule_id}"): {409: "The version is stale"},
    ("post", "/account/password"): {429: "Too many wrong passwords for this user or address; wait as Retry-After "
                                         "says"},
    ("post", "/notification-rules"): {409: "A rule with this name exists"},
    ("get", "/reports"): {422: "A bad period (2025-09 | 2025-Q3 | 2025), commune, format, table or clearance_days"},
    ("patch", "/notification-rules/{rule_id}"): {409: "The version is stale, or another rule has this name"},
    ("get", "/collections/{collection_id}/tiles/WebMercatorQuad/{z}/{y}/{x}"): {
        204: "The tile is empty, or the zoom is outside the layer's zoom range", 304: "Not modified (ETag)"},
    ("get", "/tiles/{collection_id}/{z}/{x}/{y}.mvt"): {
        204: "The tile is empty, or the zoom is outside the layer's zoom range", 304: "Not modified (ETag)"},
}
SIGN_IN = frozenset({("post", "/auth/token"), ("post", "/auth/login")})
# Success bodies FastAPI cannot know the media type of (the route answers a Response of its own).
MEDIA_TYPES = {("get", "/web/sw.js"): ("text/javascript", {"type": "string"}),
               ("get", "/web/manifest.json"): ("application/manifest+json", {"type": "object"})}
PAGE_PARAMETERS = {
    "limit": {"name": "limit", "in": "query", "required": False,
              "description": f"The page size: 1..{MAX_LIMIT} (larger values are clamped), default {DEFAULT_LIMIT}",
              "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    "offset": {"name": "offset", "in": "query", "required": False,
               "description": "Features to skip (follow the next and prev links instead of counting)",
               "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}},
}
PAGED = ("/collections/{collection_id}/items",)
METHODS = ("get", "put", "post", "delete", "patch")


def _sample(path: str) -> str:
    """A concrete path of a template, to ask the gate whether it is public."""
    return re.sub(r"\{[^}]+\}", "x", path)


def statuses(method: str, path: str, op: dict[str, Any], is_public: Callable[[str], bool]) -> dict[int, str]:
    """The problem statuses one operation can answer, by the rules of the module docstring."""
    found: dict[int, str] = {}
    has_path_params = "{" in path
    has_body = "requestBody" in op
    write = method != "get"
    if not is_public(_sample(path)) or "{collection_id}" in path:
        found |= {401: REASONS[401], 403: REASONS[403]}
    if write and not path.startswith("/auth/"):
        found[403] = REASONS[403]
    if has_path_params:
        found[404] = REASONS[404]
    if op.get("parameters") or has_body:
        found[400] = REASONS[400]
    if has_body:
        found |= {413: REASONS[413], 422: REASONS[422]}
    if (method, path) in SIGN_IN:  # /auth/login reads its JSON or form body itself: no requestBody declared
        found |= {400: REASONS[400], 401: "Unknown user name or wrong password", 422: REASONS[422],
                  429: REASONS[429]}
    found[503] = REASONS[503]
    return found


def install(doc: dict[str, Any], is_public: Callable[[str], bool]) -> dict[str, Any]:
    """Add the problem responses and the page parameters to ``doc`` (FastAPI's OpenAPI document)."""
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["ProblemDetails"] = PROBLEM_DETAILS
    components.setdefault("parameters", {}).update(PAGE_PARAMETERS)
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's HTTPValidationError: sitmap answers problem+json instead
            problem = {MEDIA_TYPE: {"schema": PROBLEM_REF}}
            for code, reason in sorted(statuses(method, path, op, is_public).items()):
                responses.setdefault(str(code), {"description": reason, "content": problem})
            for code, reason in EXTRA.get((method, path), {}).items():
                body = ({} if code in (204, 304) else {"content": problem} if code >= 400
                        else {"content": {"application/json": {"schema": {}}}})
                responses.setdefault(str(code), {"description": reason, **body})
            if (method, path) in MEDIA_TYPES:
                media, schema = MEDIA_TYPES[method, path]
                responses.setdefault("200", {"description": "Successful Response"})["content"] = {
                    media: {"schema": schema}}
            if path in PAGED:
                op["parameters"] = [{"$ref": f"#/components/parameters/{p['name']}"}
                                    if p.get("name") in PAGE_PARAMETERS and p.get("in") == "query" else p
                                    for p in op.get("parameters", [])]
    schemas = components["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc
