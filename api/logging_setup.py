"""Where the ``sitmap.*`` loggers write, and how: one JSON object per line (``SITMAP_LOG_FORMAT=json``, for a
log collector) or one readable line (``text``).

Only the ``sitmap`` logger gets a handler (stderr); uvicorn keeps its own. A record's ``extra`` fields
(``request_id``, ``route``, ``status``, ...: api/request_log.py) become fields of the JSON object, or
``key=value`` pairs of the text line. ``configure`` may be called once per app (tests build many): it replaces
the handler it installed before instead of adding another.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER = "sitmap"

# The attributes every LogRecord has; anything else on a record came in through ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime",
                                                                                     "taskName"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **extra_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = extra_fields(record)
        return text + "".join(f" {k}={v}" for k, v in fields.items()) if fields else text


class _Handler(logging.StreamHandler):
    """Ours, so that a second ``configure`` finds and replaces it."""


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(log_format: str) -> logging.Handler:
    logger = logging.getLogger(LOGGER)
    for old in [h for h in logger.handlers if isinstance(h, _Handler)]:
        logger.removeHandler(old)
    handler = _Handler(sys.stderr)
    handler.setFormatter(formatter_for(log_format))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler
