"""Structured logs, configured once at an entry point (a command or the API's start-up).

Library modules only call ``logging.getLogger(__name__)``; the entry point calls
:func:`configure_logging` once with ``settings.log_level`` and ``settings.log_json``.
JSON lines carry ``ts``, ``level``, ``logger``, ``msg`` and any ``extra=`` fields, so
a log shipper can index record ids and offsets without parsing the message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_STD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line.

    Example:
        >>> rec = logging.LogRecord("x", logging.INFO, "f.py", 1, "hi %s", ("there",), None)
        >>> json.loads(JsonFormatter().format(rec))["msg"]
        'hi there'
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(
    level: str = "INFO", *, json_logs: bool = False, stream: TextIO | None = None
) -> None:
    """Replace the root handlers with one stderr handler (text or JSON lines).

    Calling it again reconfigures (it is idempotent, never stacks handlers).
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
