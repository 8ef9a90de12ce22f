"""What an import did or why it was refused, in words a person can act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Rejection:
    """One reason a row (or the whole file, row None) cannot be imported."""

    row: int | None
    field: str | None
    reason: str

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

    def reject(self, row: int | None, field_name: str | None, reason: str) -> None:
        self.rejections.append(Rejection(row, field_name, reason))

    def count(self, table: str, inserted: int = 0, updated: int = 0) -> None:
        self.inserted[table] = self.inserted.get(table, 0) + inserted
        self.updated[table] = self.updated.get(table, 0) + updated

    def summary(self) -> str:
        lines = [f"imported {self.kind} from {self.path.name} (era {self.era}): {self.rows_read} row(s) read"]
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
