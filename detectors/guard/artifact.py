"""The guard's artifact container, no pickle:

    b"WGRD" | u32 header length | JSON header | raw little-endian arrays

The header holds `format`, `kind`, `model_version`, `sha256` of the array section and each array's
dtype / shape / offset, plus whatever the model adds (thresholds, encoder settings, metadata).
`read` checks magic, header and checksum and raises ArtifactError with the reason.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"WGRD"


class ArtifactError(ValueError):
    pass


def write(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    body = bytearray()
    spec = {}
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        spec[name] = {"dtype": a.dtype.str.lstrip("<>|="), "shape": list(a.shape), "offset": len(body),
                      "nbytes": len(b)}
        body += b
    head = dict(header, sha256=hashlib.sha256(bytes(body)).hexdigest(), arrays=spec)
    hb = json.dumps(head, sort_keys=True).encode()
    return MAGIC + struct.pack("<I", len(hb)) + hb + bytes(body)


def read_header(blob: bytes) -> tuple[dict[str, Any], bytes]:
    if len(blob) < 8 or blob[:4] != MAGIC:
        raise ArtifactError("not a warden guard artifact (bad magic)")
    (hlen,) = struct.unpack_from("<I", blob, 4)
    if 8 + hlen > len(blob):
        raise ArtifactError("guard artifact truncated (header)")
    try:
        header = json.loads(blob[8:8 + hlen])
    except ValueError as e:
        raise ArtifactError(f"guard artifact header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise ArtifactError("guard artifact header is not a JSON object")
    return header, blob[8 + hlen:]


def read_arrays(header: dict[str, Any], body: bytes, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """float32 copies of the named arrays, after checking the body's checksum."""
    if hashlib.sha256(body).hexdigest() != header.get("sha256"):
        raise ArtifactError("guard artifact checksum mismatch (corrupt or tampered)")
    out = {}
    for name in names:
        s = (header.get("arrays") or {}).get(name)
        if s is None or s["offset"] + s["nbytes"] > len(body):
            raise ArtifactError(f"guard artifact truncated or incomplete (array {name})")
        a = np.frombuffer(body, dtype=np.dtype("<" + s["dtype"]), count=int(np.prod(s["shape"])),
                          offset=s["offset"])
        out[name] = a.reshape(s["shape"]).astype(np.float32)
    return out


def save(blob: bytes, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(blob)
    tmp.replace(path)
    return path
