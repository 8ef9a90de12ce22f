"""What an import did or why it was refused, in words a person can act on."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rejection:
    """One reason a row (or the whole file, row None) cannot be imported."""

    row: int | None
    field: str | None
    reason: str
    value: str | None = None  # the cell as the file had it, when the rejection is about one cell

    def line(self) -> str:
        where = "file" if self.row is None else f"row {self.row}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.reason}"


@dataclass
class ImportReport:
    kind: str
    path: Path
    era: str
    rows_read: int = 0
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    repairs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    dry_run: bool = False
    # field -> the file's own column name (data.importers.columns.resolve): rejections name the file's column.
    columns: dict[str, str] = field(default_factory=dict)
    frame: Any = None  # the rows as read (set once read), for the rejected cells' values

    def reject(self, row: int | None, field_name: str | None, reason: str) -> None:
        value = None
        frame = self.frame
        if row is not None and field_name and frame is not None and field_name in frame.columns \
                and row in frame.index and field_name != "geometry":
            cell = frame.at[row, field_name]
            value = None if cell is None else str(cell)
        self.rejections.append(Rejection(row, self.columns.get(field_name or "", field_name), reason, value))

    def count(self, table: str, inserted: int = 0, updated: int = 0) -> None:
        self.inserted[table] = self.inserted.get(table, 0) + inserted
        self.updated[table] = self.updated.get(table, 0) + updated

    def summary(self) -> str:
        verb = "dry run, nothing was written: would import" if self.dry_run else "imported"
        lines = [f"{verb} {self.kind} from {self.path.name} (era {self.era}): {self.rows_read} row(s) read"]
        for table in sorted(set(self.inserted) | set(self.updated)):
            lines.append(f"  {table}: {self.inserted.get(table, 0)} inserted, {self.updated.get(table, 0)} updated")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  repaired: {r}" for r in self.repairs]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def rejection_text(self) -> str:
        n = len(self.rejections)
        lines = [f"import of {self.kind} from {self.path} rejected: {n} problem(s); nothing was written.",
                 "Fix these and run the import again:"]
        lines += [f"  {r.line()}" for r in sorted(self.rejections, key=lambda r: (r.row or 0, r.field or ""))]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def sorted_rejections(self) -> list[Rejection]:
        return sorted(self.rejections, key=lambda r: (r.row or 0, r.field or ""))

    def write_rejects_csv(self, path: Path) -> Path:
        """The rejections as CSV (row, field, value, reason), UTF-8 with a BOM so Excel shows Vietnamese."""
        with open(path, "w", encoding="utf-8-sig", newline="") as f:
            out = csv.writer(f)
            out.writerow(["row", "field", "value", "reason"])
            for r in self.sorted_rejections():
                out.writerow(["" if r.row is None else r.row, r.field or "", r.value or "", r.reason])
        return path

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.path.name, "era": self.era, "dry_run": self.dry_run,
                "rows_read": self.rows_read, "inserted": self.inserted, "updated": self.updated,
                "columns": self.columns, "notes": self.notes, "repairs": self.repairs, "warnings": self.warnings,
                "rejections": [{"row": r.row, "field": r.field, "value": r.value, "reason": r.reason}
                               for r in self.sorted_rejections()]}


def rejects_path(path: Path) -> Path:
    """Where the reject report of ``path`` goes: beside it, ``<file>.rejects.csv``."""
    return path.with_name(path.name + ".rejects.csv")


class ImportRejected(Exception):
    """Raised when any row is rejected; the transaction was rolled back and nothing was written."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{len(report.rejections)} problem(s) in {report.path}")
        self.import_report = report

    @property
    def rejections(self) -> list[Rejection]:
        return self.import_report.rejections

    def report(self) -> str:
        return self.import_report.rejection_text()
