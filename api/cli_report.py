"""`sitmap report`: period reports (incidents, clearance, response times, patrols, procedures) as xlsx or csv."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli_common import fail, url

_HELP = ("Period report for a month (2025-09), a quarter (2025-Q3) or a year (2025), local time: incidents by "
         "commune x category x severity, year on year, clearance, response times, patrols against the schedule, "
         "administrative procedures. xlsx: one sheet per table and a chart; csv: a zip of CSVs, or one table with "
         "--table. Exit status 2 on a bad period, commune, format or option.")


def register(app: typer.Typer) -> None:
    app.command("report", help=_HELP)(report)


def report(
    period: Annotated[str, typer.Option(help="2025-09 (month) | 2025-Q3 (quarter) | 2025 (year), Asia/Ho_Chi_Minh")],
    commune: Annotated[str, typer.Option(help="A commune code of 2025, or all")] = "all",
    fmt: Annotated[str, typer.Option("--format", help="xlsx | csv (a zip of CSVs, or one table with --table)")
                   ] = "xlsx",
    output: Annotated[Path | None, typer.Option(help="File to write (default sitmap-report-PERIOD-COMMUNE.xlsx "
                                                     "or .zip / .csv)")] = None,
    table: Annotated[str | None, typer.Option(
        help="With --format csv: only this table (incidents, year_on_year, clearance, responses, patrols, "
             "procedures, situation, serious_incidents)")] = None,
    clearance_days: Annotated[int, typer.Option(help="Closed within this many days counts as cleared")] = 7,
    with_details: Annotated[bool, typer.Option(
        "--with-details", help="Add the serious incidents with description and reporter (personal details; the "
                               "read is audited)")] = False,
) -> None:
    import getpass

    import psycopg

    from data.ops import reports

    try:
        p = reports.parse_period(period)
        kind = reports.parse_format(fmt)
        reports.check_clearance_days(clearance_days)
        if table is not None and kind != "csv":
            raise reports.ReportInputError("table", "only with --format csv")
        with psycopg.connect(url()) as conn:
            rep = reports.build(conn, None, p, commune, clearance_days=clearance_days, with_details=with_details,
                                actor=(None, f"cli:{getpass.getuser()}"))
            suffix = ".xlsx" if kind == "xlsx" else (".csv" if table else ".zip")
            target = output or Path(rep.filename_stem + suffix)
            if kind == "xlsx":
                reports.write_xlsx(rep, target)
            else:
                reports.write_csv(rep, target, table)
            conn.commit()  # the audit row of a details read, once the file is written
    except reports.ReportInputError as exc:
        fail(exc.detail, 2)
    typer.echo(f"{target}: {rep.period.label} ({rep.period.first_day:%d/%m/%Y} – {rep.period.last_day:%d/%m/%Y}), "
               f"{rep.scope_label}; " + ", ".join(f"{t.key} {len(t.rows)} rows" for t in rep.tables)
               + (f"\n{reports.GENERATED_NOTE}" if rep.generated else ""))
