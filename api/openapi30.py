"""The API definition as OpenAPI 3.0, as the OGC API - Features "oas30" conformance class promises.

FastAPI writes OpenAPI 3.1 (JSON Schema 2020-12). GIS clients that read the service description expect 3.0,
so the few 3.1-only constructs FastAPI emits are rewritten: nullable unions, ``const``, ``examples`` lists,
exclusive bounds as numbers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import openapi_problems
from api.security import is_public

NULL = {"type": "null"}


def _schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _schema(v) for k, v in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and NULL in options:
            rest = [o for o in options if o != NULL]
            node.pop(key)
            if len(rest) == 1:
                inner = rest[0]
                if "$ref" in inner:  # a $ref cannot carry siblings in 3.0
                    node["allOf"] = [inner]
                else:
                    node.update(inner)
            else:
                node[key] = rest
            node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else types
        if isinstance(node["type"], list):
            node.pop("type")
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if "examples" in node and isinstance(node["examples"], list):
        examples = node.pop("examples")
        if examples and "example" not in node:
            node["example"] = examples[0]
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[flag] = node.pop(bound)
            node[bound] = True
    return node


def _walk(doc: Any) -> Any:
    """Rewrite every schema object of the document; leave other objects (paths, parameters) as they are."""
    if isinstance(doc, list):
        return [_walk(d) for d in doc]
    if not isinstance(doc, dict):
        return doc
    out = {}
    for key, value in doc.items():
        if key in ("schema", "schemas") and isinstance(value, dict):
            out[key] = _schema(value) if key == "schema" else {k: _schema(v) for k, v in value.items()}
        elif key == "examples" and isinstance(value, list):
            out["example"] = value[0] if value else None
        else:
            out[key] = _walk(value)
    return out


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes, openapi_version="3.0.3")
            app.openapi_schema = _walk(openapi_problems.install(doc, is_public))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
