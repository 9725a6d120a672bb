"""Request bodies: read with a size cap checked while reading and a deadline; gzip decoded with a
cap on the decoded size (a gzip bomb is a 413, not a full memory)."""
from __future__ import annotations

import asyncio
import zlib

from core.http import HttpError

GZIP_ENCODINGS = ("gzip", "x-gzip")


class ClientGone(Exception):
    """The client disconnected before its body arrived: nothing to answer."""


def too_large(limit: int, what: str = "request body") -> HttpError:
    return HttpError(413, f"{what} over {limit} bytes", {"Connection": "close"})


def declared_length(headers: dict[str, str], limit: int) -> int | None:
    """Content-Length as declared (None when absent: chunked); 400 when invalid, 413 when over."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        if raw.strip().isdigit() and len(raw.strip()) > 18:
            raise too_large(limit)
        raise HttpError(400, "invalid Content-Length", {"Connection": "close"})
    n = int(raw)
    if n > limit:
        raise too_large(limit)
    return n


async def read_body(receive, limit: int, timeout_s: float) -> bytes:
    """The whole body from an ASGI `receive`, at most `limit` bytes, within `timeout_s` (one
    deadline for the whole body, not a timer per chunk)."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                if chunk:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise HttpError(408, f"request body not received within {timeout_s:g} s", {"Connection": "close"}) from None


def gunzip(data: bytes, limit: int) -> bytes:
    """Decode a gzip body (members concatenated allowed): 413 past `limit` decoded bytes, 400 when
    it is not gzip or is cut short."""
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            piece = d.decompress(rest, limit - size + 1)
        except zlib.error as e:
            raise HttpError(400, f"Content-Encoding gzip but the body is not gzip: {e}") from None
        size += len(piece)
        if size > limit or d.unconsumed_tail:
            raise too_large(limit, "decoded gzip body")
        if not d.eof:
            raise HttpError(400, "gzip body is truncated")
        out.append(piece)
        rest = d.unused_data
        if rest.strip(b"\x00") == b"":          # trailing padding some writers leave
            break
    return b"".join(out)
