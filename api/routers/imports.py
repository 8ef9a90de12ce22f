"""File imports over HTTP for admins: the same importers as `sitmap import`, with a dry run.

``POST /imports/{kind}`` takes the file as multipart ``file``; the import runs in a worker thread (the
importers are synchronous and read the whole file). Rejected: 422 with every (row, field, value, reason).
Size: the body limit of ``max_import_bytes`` (api/body_limit.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Request, UploadFile
from fastapi.encoders import jsonable_encoder as jsonable
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.import_audit import ACTION, recorder
from api.problems import Problem
from api.security import remote_addr, require
from data.permissions import Caller

router = APIRouter(tags=["imports"])

Admin = Annotated[Caller, Depends(require(ACTION))]
KindName = Literal["communes", "villages", "roads", "stations", "patrol-points"]
SUFFIXES = (".geojson", ".json", ".zip", ".gpkg", ".csv", ".txt", ".shp", ".osm", ".pbf")


@router.post("/imports/{kind}", summary="Import a file (admins): the same checks as sitmap import, all or nothing",
             responses={422: {"description": "The file was rejected: 'errors' lists every row, field, value and "
                                             "reason; nothing was written"}})
async def import_file(
    request: Request, principal: Admin,
    kind: Annotated[KindName, Path(description="What the file holds")],
    file: Annotated[UploadFile, File(description="GeoJSON, zipped Shapefile, GeoPackage or CSV (lon/lat or wkt)")],
    dry_run: Annotated[bool, Form(description="true: check everything, report, write nothing")] = False,
    columns: Annotated[str | None, Form(max_length=2000, description="field=COLUMN,... overriding the column "
                                                                     "vocabulary, e.g. code=MA_XA,name=TEN_XA")] = None,
    era: Annotated[Literal["2025", "pre2025"], Form(description="Era of imported communes")] = "2025",
) -> JSONResponse:
    from data.importers import ImportRejected, run_import
    from data.importers.columns import parse_mapping

    name = FilePath(file.filename or "").name
    suffix = FilePath(name).suffix.lower()
    if name.lower().endswith(".osm.pbf"):
        suffix = ".pbf"
    if suffix not in SUFFIXES:
        raise Problem(422, "Unsupported file", f"the file name must end in one of {', '.join(SUFFIXES)} "
                                               f"(got '{name or 'no name'}')", errors=[{"field": "file",
                                                                                        "reason": "file type"}])
    try:
        mapping = parse_mapping(columns)
    except ValueError as exc:
        raise Problem(422, "Invalid columns", str(exc), errors=[{"field": "columns", "reason": str(exc)}]) from exc
    url = request.app.state.pool.conninfo
    with tempfile.TemporaryDirectory(prefix="sitmap-upload-") as tmp:
        path = FilePath(tmp) / f"upload{suffix}"
        path.write_bytes(await file.read())
        try:
            report = await run_in_threadpool(
                run_import, url, kind, path, era, False, dry_run=dry_run, column_map=mapping, name=name,
                on_written=recorder(principal.user_id, principal.username, remote_addr(request)))
        except ImportRejected as exc:
            body: dict[str, Any] = exc.import_report.as_dict()
            raise Problem(422, "Import rejected", exc.import_report.rejection_text().replace(str(path), name),
                          errors=body.pop("rejections"), report=jsonable(body)) from exc
    return JSONResponse(jsonable(report.as_dict()))
