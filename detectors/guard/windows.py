"""Overlapping windows over long inputs, so an instruction anywhere in a text is scored.

A text up to `size` characters is one window (itself). A longer one is cut into windows of `size`
characters every `stride` characters (the last one ends at the end of the text), each cut moved
to a word boundary within 64 characters so words stay whole (the last one forward, so it still
ends at the end of the text). `limit` caps the count: beyond it
the windows are spread evenly and the first and last are always kept.
"""
from __future__ import annotations

SIZE = 1000
STRIDE = 800


def _cut(text: str, i: int, last: bool) -> int:
    """A window start near `i` at a word boundary: moved back (forward for the last window, which
    must reach the end of the text) to just after a space within 64 characters."""
    if i <= 0 or i >= len(text):
        return max(0, min(i, len(text)))
    j = text.find(" ", i, i + 64) if last else text.rfind(" ", max(0, i - 64), i)
    return j + 1 if j >= 0 else i


def windows(text: str, size: int = SIZE, stride: int = STRIDE, limit: int | None = None) -> list[str]:
    if size < 1 or not 0 < stride <= size:
        raise ValueError("need size >= 1 and 0 < stride <= size")
    if len(text) <= size:
        return [text]
    starts = list(range(0, len(text) - size, stride)) + [len(text) - size]
    if limit is not None and len(starts) > limit:
        k = max(limit, 2)
        starts = [starts[round(i * (len(starts) - 1) / (k - 1))] for i in range(k)]
    out = []
    starts = list(dict.fromkeys(starts))
    for k, s in enumerate(starts):
        a = _cut(text, s, k == len(starts) - 1)
        out.append(text[a:a + size])
    return out
