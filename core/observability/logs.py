"""Structured (JSON lines) logging option, with secrets redacted from every message.

`setup("json")` installs a handler whose records are one JSON object per line: time, level,
logger, message, and exception text. Whatever the format, `RedactingFilter` masks bearer tokens,
API keys, passwords and `Authorization` values that might slip into a message.
"""
from __future__ import annotations

import logging
import re
import sys
import time

import orjson

_PATTERNS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)((?:authorization|api[_-]?key|password|passwd|secret|token|sasl_plain_password)"
                r"['\"]?\s*[:=]\s*['\"]?)([^\s'\",}]+)"), r"\1***"),
    (re.compile(r"(?i)(apikey\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
]


def redact(text: str) -> str:
    for pat, rep in _PATTERNS:
        text = pat.sub(rep, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: keep the record as is
            return True
        red = redact(msg)
        if red != msg:
            record.msg, record.args = red, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        d = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
             "level": record.levelname.lower(), "logger": record.name, "message": redact(record.getMessage())}
        if record.exc_info:
            d["exception"] = redact(self.formatException(record.exc_info))
        for k in ("stage", "component"):
            if hasattr(record, k):
                d[k] = getattr(record, k)
        return orjson.dumps(d).decode()


def setup(fmt: str = "text", level: int = logging.INFO, stream=None) -> logging.Handler:
    """Install warden's root handler (JSON or text), with redaction. Returns the handler."""
    h = logging.StreamHandler(stream or sys.stderr)
    h.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    h.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in [x for x in root.handlers if getattr(x, "_warden", False)]:
        root.removeHandler(old)
    h._warden = True  # type: ignore[attr-defined]
    root.addHandler(h)
    root.setLevel(level)
    return h


def configure_root(fmt: str = "text") -> None:
    """Make the process's existing root handlers redact secrets, and speak JSON when asked
    (the CLI installs a text handler first; the pipeline calls this with `pipeline.log_format`)."""
    root = logging.getLogger()
    if not root.handlers:
        if fmt == "json":
            setup(fmt, level=root.level or logging.INFO)
        return
    for h in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter())
        if fmt == "json" and not isinstance(h.formatter, JsonFormatter):
            h.setFormatter(JsonFormatter())
