"""The action log's HMAC key: `WARDEN_ACTION_LOG_KEY` (the key itself), else the file named by
`WARDEN_ACTION_LOG_KEY_FILE`, else `<data_dir>/action-log.key` (32 random bytes, created mode 0600
on the first append).

With the key, each entry's `hash` is HMAC-SHA256 over the entry, so rewriting the log *and* its
head file is detected by anyone who does not hold the key. The default key file sits next to the
log and only protects against someone who can edit the log but not read the key file; keep the key
elsewhere (a Kubernetes secret, a file on another volume) for the stronger guarantee.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ENV_KEY = "WARDEN_ACTION_LOG_KEY"
ENV_KEY_FILE = "WARDEN_ACTION_LOG_KEY_FILE"
DEFAULT_NAME = "action-log.key"


class KeyError_(ValueError):
    """The configured key cannot be read (named file missing or empty)."""


@dataclass(frozen=True)
class LogKey:
    source: str                   # "env", the key file's path, or "" when none exists yet
    path: Path | None             # the file to create when the key is missing (default location)
    value: bytes | None


def find_key(data_dir: str | os.PathLike, env=os.environ) -> LogKey:
    if env.get(ENV_KEY):
        return LogKey("env " + ENV_KEY, None, env[ENV_KEY].encode())
    if env.get(ENV_KEY_FILE):
        p = Path(env[ENV_KEY_FILE])
        try:
            value = p.read_bytes().strip()
        except OSError as e:
            raise KeyError_(f"{ENV_KEY_FILE}={p}: {e.strerror}") from None
        if not value:
            raise KeyError_(f"{ENV_KEY_FILE}={p} is empty")
        return LogKey(str(p), None, value)
    p = Path(data_dir) / DEFAULT_NAME
    if p.exists():
        return LogKey(str(p), None, p.read_bytes().strip())
    return LogKey("", p, None)


def create_key(path: Path) -> bytes:
    """Create the default key file (0600) unless another process just did; return the key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(value + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return value
