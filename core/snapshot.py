"""Versioned, checksummed state blobs for detector snapshots and model artifacts.

Layout: b"WSNP" | u16 format version | u16 len(kind) | kind | u32 state version | 32-byte blake2b of
payload | payload (JSON via orjson, or raw bytes). restore() checks magic, kind, version and checksum
and raises SnapshotError with the reason. No pickle: a tampered state store cannot execute code.
"""
from __future__ import annotations

import hashlib
import struct
from typing import Any

import orjson

from core import codec

MAGIC = b"WSNP"
FORMAT = 1


class SnapshotError(ValueError):
    pass


def pack(kind: str, version: int, state: Any = None, *, raw: bytes | None = None) -> bytes:
    payload = raw if raw is not None else codec.dumps(state)
    k = kind.encode()
    digest = hashlib.blake2b(payload, digest_size=32).digest()
    flag = 1 if raw is not None else 0
    return MAGIC + struct.pack("<HHB", FORMAT, len(k), flag) + k + struct.pack("<I", version) + digest + payload


def unpack(blob: bytes, kind: str, versions: tuple[int, ...] | int) -> tuple[int, Any]:
    """Return (state version, state). `versions` are the state versions this code can read."""
    if isinstance(versions, int):
        versions = (versions,)
    if len(blob) < 9 or blob[:4] != MAGIC:
        raise SnapshotError("not a warden snapshot (bad magic)")
    fmt, klen, flag = struct.unpack_from("<HHB", blob, 4)
    if fmt != FORMAT:
        raise SnapshotError(f"unsupported snapshot format {fmt}")
    off = 9
    k = blob[off:off + klen].decode(errors="replace")
    off += klen
    if k != kind:
        raise SnapshotError(f"snapshot is for {k!r}, not {kind!r}")
    (ver,) = struct.unpack_from("<I", blob, off)
    off += 4
    if ver not in versions:
        raise SnapshotError(f"{kind} snapshot version {ver} not supported (supported: {versions})")
    digest, payload = blob[off:off + 32], blob[off + 32:]
    if hashlib.blake2b(payload, digest_size=32).digest() != digest:
        raise SnapshotError(f"{kind} snapshot checksum mismatch (corrupt or tampered)")
    return ver, (payload if flag else orjson.loads(payload))
