"""File imports over HTTP for admins: the same importers as `sitmap import`, with a dry run.

``POST /imports/{kind}`` takes the file as multipart ``file`` (with ``dry_run``, ``columns``, ``era``); the
import runs in a worker thread (the importers are synchronous and read the whole file). Rejected: 422 with
every (row, field, value, reason) in ``errors``. Size: the body limit ``max_import_bytes`` (api/body_limit.py).
The form is read here rather than declared as parameters: FastAPI's schema of a file field is OpenAPI 3.1
(contentMediaType), and the document is 3.0 (api/openapi30.py), so the request body is declared below.
"""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.encoders import jsonable_encoder as jsonable
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.import_audit import ACTION, recorder
from api.problems import Problem
from api.security import remote_addr, require
from data.permissions import Caller

router = APIRouter(tags=["imports"])

Admin = Annotated[Caller, Depends(require(ACTION))]
KindName = Literal["communes", "villages", "roads", "stations", "patrol-points", "incidents"]
SUFFIXES = (".geojson", ".json", ".zip", ".gpkg", ".csv", ".txt", ".xlsx", ".osm", ".pbf")
ERAS = ("2025", "pre2025")
MAX_COLUMNS_CHARS = 2000
FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "GeoJSON, zipped Shapefile, GeoPackage, CSV or .xlsx (lon/lat or wkt columns)"},
        "dry_run": {"type": "boolean", "default": False, "description": "true: check everything, write nothing"},
        "columns": {"type": "string", "maxLength": MAX_COLUMNS_CHARS,
                    "description": "field=COLUMN,... overriding the column vocabulary, e.g. code=MA_XA,name=TEN_XA"},
        "era": {"type": "string", "enum": list(ERAS), "default": "2025", "description": "Era of imported communes"},
    }}}}}}


def _invalid(field: str, reason: str) -> Problem:
    return Problem(422, "Invalid import request", f"{field}: {reason}", errors=[{"field": field, "reason": reason}])


@router.post("/imports/{kind}", summary="Import a file (admins): the same checks as sitmap import, all or nothing",
             openapi_extra=FORM,
             responses={422: {"description": "The file was rejected: 'errors' lists every row, field, value and "
                                             "reason; nothing was written"}})
async def import_file(request: Request, principal: Admin,
                      kind: Annotated[KindName, Path(description="What the file holds")]) -> JSONResponse:
    from data.importers import ImportRejected, run_import
    from data.importers.columns import parse_mapping

    try:
        form = await request.form()
    except Exception as exc:  # noqa: BLE001 - a body that is not multipart/form-data, whatever the parser says
        raise _invalid("file", f"send the file as multipart/form-data ({exc})") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise _invalid("file", "missing: send the file as the multipart field 'file'")
    dry_raw = str(form.get("dry_run") or "false").strip().lower()
    if dry_raw not in ("true", "false", "1", "0"):
        raise _invalid("dry_run", f"'{dry_raw[:40]}' is not true or false")
    era = str(form.get("era") or "2025")
    if era not in ERAS:
        raise _invalid("era", f"'{era[:40]}' is not one of {', '.join(ERAS)}")
    columns = str(form.get("columns") or "")
    if len(columns) > MAX_COLUMNS_CHARS:
        raise _invalid("columns", f"longer than {MAX_COLUMNS_CHARS} characters")
    try:
        mapping = parse_mapping(columns)
    except ValueError as exc:
        raise _invalid("columns", str(exc)) from exc
    name = FilePath(upload.filename or "").name.replace("\x00", "") or "upload"
    suffix = ".pbf" if name.lower().endswith(".osm.pbf") else FilePath(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise _invalid("file", f"the file name must end in one of {', '.join(SUFFIXES)} (got '{name[:80]}')")
    url = request.app.state.pool.conninfo
    with tempfile.TemporaryDirectory(prefix="sitmap-upload-") as tmp:
        path = FilePath(tmp) / f"upload{suffix}"
        path.write_bytes(await upload.read())
        try:
            report = await run_in_threadpool(
                run_import, url, kind, path, era, False, dry_run=dry_raw in ("true", "1"), column_map=mapping,
                name=name, on_written=recorder(principal.user_id, principal.username, remote_addr(request)))
        except ImportRejected as exc:
            body: dict[str, Any] = exc.import_report.as_dict()
            raise Problem(422, "Import rejected", exc.import_report.rejection_text().replace(str(path), name),
                          errors=body.pop("rejections"), report=jsonable(body)) from exc
    return JSONResponse(jsonable(report.as_dict()))
