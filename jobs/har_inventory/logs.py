"""Logging for people and for cron: readable text or one JSON object per event.

Every record passes a redaction filter that replaces the API key, wherever
it appears (our messages, aiohttp's or tenacity's), with `[redacted]`.
Structured fields travel in `extra={"event": ..., ...}` and appear as keys
of the JSON object; the text format shows the message only.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

_STD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
REDACTED = "[redacted]"


class RedactFilter(logging.Filter):
    """Replace each secret in the record's message and extra fields."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _clean(self, value):
        """`value` with every secret replaced, inside strings, dicts, lists and tuples too."""
        if isinstance(value, str):
            for s in self.secrets:
                value = value.replace(s, REDACTED)
            return value
        if isinstance(value, dict):
            return {self._clean(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._clean(v) for v in value)
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        return self._clean(str(value)) if any(s in str(value) for s in self.secrets) else value

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = self._clean(record.getMessage())
            record.args = None
            for k, v in list(vars(record).items()):
                if k not in _STD_ATTRS:
                    setattr(record, k, self._clean(v))
            if record.exc_info:
                record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `ts` (UTC ISO 8601), `level`, `event`, `message`, extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        obj = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", "log"),
            "message": record.getMessage(),
        }
        for k, v in vars(record).items():
            if k not in _STD_ATTRS and k != "event":
                obj[k] = v
        if record.exc_text:
            obj["exception"] = record.exc_text
        return json.dumps(obj, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")


def setup(*, fmt: str = "text", log_file: Path | None = None, verbose: bool = False,
          secrets: list[str] | None = None, stream: TextIO | None = None) -> logging.Handler:
    """Configure the root logger; returns the handler. `fmt` is `text` or `json`.

    Logs go to `log_file` (appended) when given, else to stderr. INFO and up
    (DEBUG with `verbose`); aiohttp's and asyncio's chatter is kept at WARNING.
    """
    if log_file is not None:
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactFilter(secrets or []))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("aiohttp", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def apart_from_stderr() -> bool:
    """True when the root logger writes to a file or as JSON (as `setup` makes it): a message
    printed on stderr alone would then be missing from the log (e.g. why a run was refused)."""
    return any(isinstance(h, logging.FileHandler) or isinstance(h.formatter, JsonFormatter)
               for h in logging.getLogger().handlers)
