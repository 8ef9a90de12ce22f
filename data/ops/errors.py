"""A refused operation, with what to fix; the API turns it into problem+json (status, title, detail)."""

from __future__ import annotations

from typing import Any


class OpsError(Exception):
    def __init__(self, status: int, title: str, detail: str, type_: str | None = None, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        # What the answer must carry besides the document (Retry-After, WWW-Authenticate).
        self.headers = headers
        self.title = title
        self.detail = detail
        self.type = type_ or title.lower().replace(" ", "-")
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail, **self.extra}


# The one rule for validation (api/problems.validation_status): 422 for values of a request body that was
# read as JSON; 400 for a request that cannot be taken as sent (a body that is not JSON, or a wrong path,
# query or header parameter, as OGC API Features requires for query parameters).
def invalid(detail: str, **extra: Any) -> OpsError:
    """A value of the request body is refused (422)."""
    return OpsError(422, "Invalid request", detail, "invalid-request", **extra)


def bad_parameter(detail: str, parameter: str, **extra: Any) -> OpsError:
    """A path, query or header parameter is refused (400), named like the OGC API routes name theirs."""
    return OpsError(400, "Invalid query parameter", detail, "invalid-parameter", parameter=parameter, **extra)


def forbidden(detail: str, **extra: Any) -> OpsError:
    return OpsError(403, "Forbidden", detail, "forbidden", **extra)


def not_found(detail: str) -> OpsError:
    return OpsError(404, "Not found", detail, "not-found")


def conflict(detail: str, **extra: Any) -> OpsError:
    return OpsError(409, "Conflict", detail, "conflict", **extra)
