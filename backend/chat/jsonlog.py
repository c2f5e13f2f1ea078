"""``LOG_FORMAT=json``: one JSON object per log line, for log platforms that index fields.

Fields: ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``, ``message`` (the
formatted message), ``process`` (the pid: several processes write to one log stream) and, when
the record carries one, ``exception`` (the traceback as text). A line never spans two lines, so a
line-oriented collector keeps a traceback with its message.
"""

from __future__ import annotations

import datetime
import json
import logging


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)
