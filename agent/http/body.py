"""Request bodies: read with a size cap checked while reading and a deadline; gzip decoded in
steps with a cap on the decoded size and on the compression ratio (a gzip bomb is a 413 after its
first MiB, not a full memory nor a long hold of the interpreter lock)."""
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


#: output of one inflate step: the interpreter lock is released while zlib inflates and taken
#: back for each step, so a big body never holds it for long (zlib's own growing buffer, asked for
#: the whole decoded size at once, copied it into one object while holding the lock: ~10 ms for
#: 16 MiB, the event loop waiting meanwhile)
INFLATE_STEP = 64 << 10
#: the compression ratio is checked once this much is decoded (small bodies are never refused for it)
RATIO_CHECKED_FROM = 1 << 20


def gunzip(data: bytes, limit: int, max_ratio: float = 0.0) -> bytes:
    """Decode a gzip body (members concatenated allowed) in steps of INFLATE_STEP: 413 past `limit`
    decoded bytes, or, once more than RATIO_CHECKED_FROM bytes are decoded, past `max_ratio` times
    the compressed bytes read so far (0: no ratio cap; a gzip bomb is refused after its first
    MiB instead of after `limit`); 400 when it is not gzip or is cut short."""
    out: list[bytes] = []
    size = 0
    rest = data
    while rest:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = rest
        while not d.eof:
            before = len(pending)
            try:
                piece = d.decompress(pending, INFLATE_STEP)
            except zlib.error as e:
                raise HttpError(400, f"Content-Encoding gzip but the body is not gzip: {e}") from None
            size += len(piece)
            if size > limit:
                raise too_large(limit, "decoded gzip body")
            pending = d.unconsumed_tail
            read = len(data) - len(pending) - len(d.unused_data)        # compressed bytes fed so far
            if max_ratio and size > RATIO_CHECKED_FROM and size > max_ratio * max(read, 1):
                raise HttpError(413, f"decoded gzip body over {max_ratio:g} times its compressed size",
                                {"Connection": "close"})
            out.append(piece)
            if not piece and len(pending) >= before:
                break                               # no progress: input used up before the member's end
        if not d.eof:
            raise HttpError(400, "gzip body is truncated")
        rest = d.unused_data
        if rest.strip(b"\x00") == b"":          # trailing padding some writers leave
            break
    return b"".join(out)
