"""Period reports (xlsx/csv) for commanders and admins.

``GET /reports`` answers the file of data/ops/reports.py (the same as ``sitmap report``) with a
Content-Disposition naming it; the tables are computed in a worker thread of the analysis runner
(api/analysis_runner.py). A bad period, commune, format or table is 422 (the report's own rule, as the CLI's
exit status 2), a commune outside the caller's communes 403. ``GET /reports/options`` tells the map's button
whether the caller may download reports and which communes it may choose, without a 403 for those who may not.
"""

from __future__ import annotations

import io
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.deps import services
from api.security import remote_addr, require
from data.permissions import Caller, may

router = APIRouter(tags=["reports"])

Reader = Annotated[Caller, Depends(require("report.read"))]
Anyone = Annotated[Caller, Depends(require("self.read"))]
FILE_CONTENT = {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {
    "type": "string", "format": "binary"}}, "application/zip": {"schema": {"type": "string", "format": "binary"}},
    "text/csv": {"schema": {"type": "string"}}}


@router.get("/reports", summary="Period report (commanders, admins): xlsx workbook, or CSV (zip, or one table)",
            response_class=Response, responses={200: {"content": FILE_CONTENT, "description": "The report file"},
                                                422: {"description": "A bad period, commune, format or table"}})
async def period_report(
    request: Request, caller: Reader,
    period: Annotated[str | None, Query(max_length=20, description="2025-09 (month) | 2025-Q3 (quarter) | 2025 "
                                                                   "(year), Asia/Ho_Chi_Minh; required")] = None,
    commune: Annotated[str, Query(max_length=40, description="A commune code of 2025, or all (the caller's "
                                                             "communes)")] = "all",
    format: Annotated[str, Query(max_length=10, description="xlsx | csv")] = "xlsx",  # noqa: A002 (the API's name)
    table: Annotated[str | None, Query(max_length=40, description="With format=csv: only this table (else a zip)")
                     ] = None,
    clearance_days: Annotated[int, Query(description="Closed within this many days (1-366)")] = 7,
    details: Annotated[bool, Query(description="Add the serious incidents with personal details (needs "
                                               "personal.read; audited)")] = False,
) -> Response:
    from data.ops import reports

    p = reports.parse_period(period)
    kind = reports.parse_format(format)
    if table is not None and kind != "csv":
        raise reports.ReportInputError("table", "only with format=csv")
    addr = remote_addr(request)

    def work(conn: psycopg.Connection) -> tuple[bytes, str, str]:
        try:
            rep = reports.build(conn, caller, p, commune, clearance_days=clearance_days, with_details=details,
                                remote_addr=addr)
            buf = io.BytesIO()
            if kind == "xlsx":
                reports.write_xlsx(rep, buf)
                media, suffix = reports.XLSX_MEDIA_TYPE, ".xlsx"
            else:
                media = reports.write_csv(rep, buf, table)
                suffix = ".csv" if table else ".zip"
            conn.commit()  # the audit row of a details read
            return buf.getvalue(), media, rep.filename_stem + suffix
        except BaseException:
            conn.rollback()
            raise

    body, media, name = await services(request).analyses.run(work)
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/reports/options", summary="Whether the caller may download period reports, and its communes")
async def report_options(request: Request, caller: Anyone) -> dict[str, Any]:
    from data.ops import reports

    allowed = may(caller, reports.ACTION)

    def work(conn: psycopg.Connection) -> list[dict[str, str]]:
        scope = reports.resolve_scope(conn, caller, "all")
        rows = conn.execute(reports.COMMUNES_SQL + " AND (%(all)s OR id = ANY(%(units)s::int[])) ORDER BY name",
                            scope.params()).fetchall()
        conn.rollback()
        return [{"code": r[1], "name": r[2]} for r in rows]

    communes = await services(request).analyses.run(work) if allowed else []
    return {"allowed": allowed, "formats": list(reports.FORMATS), "communes": communes,
            "period_examples": ["2025-09", "2025-Q3", "2025"]}
