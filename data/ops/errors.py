"""A refused operation, with what to fix; the API turns it into problem+json (status, title, detail)."""

from __future__ import annotations

from typing import Any


class OpsError(Exception):
    def __init__(self, status: int, title: str, detail: str, type_: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_ or title.lower().replace(" ", "-")
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail, **self.extra}


def invalid(detail: str, **extra: Any) -> OpsError:
    return OpsError(422, "Invalid request", detail, "invalid-request", **extra)


def forbidden(detail: str, **extra: Any) -> OpsError:
    return OpsError(403, "Forbidden", detail, "forbidden", **extra)


def not_found(detail: str) -> OpsError:
    return OpsError(404, "Not found", detail, "not-found")


def conflict(detail: str, **extra: Any) -> OpsError:
    return OpsError(409, "Conflict", detail, "conflict", **extra)
