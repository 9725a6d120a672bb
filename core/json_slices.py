"""JSON bodies parsed in slices, so that no single call holds the interpreter lock for long.

`orjson.loads` is one C call: it keeps the interpreter lock until the whole document is built.
A 4 MiB telemetry body (hundreds of thousands of values) or a hostile one (`[{},{},...]`, 300,000
empty objects in 900 KB) holds it 30-130 ms, and meanwhile the HTTP server's event loop, which
needs the lock to answer anyone, waits (measured under attack: README, "Benchmarks").

`loads(data)` gives the same value as `orjson.loads(data)` (or raises `orjson.JSONDecodeError`):
a document with fewer than `ONE_CALL` commas and colons (a bound on its values) goes to orjson in
one call; a bigger one is split at its structure — found with
numpy, whose passes over the bytes run without the lock — into runs of array items or object
members of at most `SLICE_VALUES` each, parsed one run per orjson call, with containers too big
for one run split again. Between two calls any thread may take the lock. Nesting beyond orjson's
limit, or anything that is not one container, goes to orjson whole (its answer, its error).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import orjson

SLICE_VALUES = 4096             #: structural characters per orjson call (~0.5-2 ms of parsing)
ONE_CALL = 4 * SLICE_VALUES     #: documents with fewer commas and colons than this: one call (a few ms)
MAX_DEPTH = 1024                #: orjson's own nesting limit: deeper documents get orjson's error
SPLIT_DEPTH = 16                #: containers are split again down to this depth, deeper ones parsed whole
_WS = b" \t\n\r"                #: JSON's whitespace (bytes.strip() would take more)


def loads(data: bytes) -> Any:
    """`orjson.loads(data)`, in slices when `data` holds ONE_CALL commas and colons or more."""
    if data.count(b",") + data.count(b":") < ONE_CALL:         # cheap upper bound: small, one call
        return orjson.loads(data)
    s = _Structure(data)
    if not s.one_container():
        return orjson.loads(data)
    return s.value(0, len(s.pos) - 1)


def _string_quotes(raw: np.ndarray) -> np.ndarray:
    """Positions of the quotes that open or close strings (a quote after an odd run of
    backslashes is escaped)."""
    q = np.flatnonzero(raw == ord('"'))
    after_bs = q[(q > 0) & (raw[np.maximum(q - 1, 0)] == ord("\\"))]
    if not len(after_bs):
        return q
    bs = np.flatnonzero(raw == ord("\\"))
    k = np.arange(len(bs))
    run_start = np.maximum.accumulate(np.where(np.diff(bs, prepend=-2) != 1, k, 0))
    last = np.searchsorted(bs, after_bs - 1)                      # the backslash just before each
    escaped = (last - run_start[last]) % 2 == 0                   # run length last - start + 1 is odd
    return np.setdiff1d(q, after_bs[escaped], assume_unique=True)


def _any_of(a: np.ndarray, chars: bytes) -> np.ndarray:
    m = a == chars[0]
    for c in chars[1:]:
        m |= a == c
    return m


class _Structure:
    """The structural characters of `data` outside strings: positions, bytes, and the nesting
    depth where each stands."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        raw = np.frombuffer(data, dtype=np.uint8)
        pos = np.flatnonzero(_any_of(raw, b"[]{},:"))
        quotes = _string_quotes(raw)
        self.pos = pos[np.searchsorted(quotes, pos) % 2 == 0]     # an even number of quotes before: outside
        self.ch = raw[self.pos]
        delta = _any_of(self.ch, b"[{").astype(np.int32) - _any_of(self.ch, b"]}")
        self.after = np.cumsum(delta, dtype=np.int32)
        self.before = self.after - delta                          # depth where each char stands

    def one_container(self) -> bool:
        """The document is one array or object (whitespace around it), never deeper than orjson
        allows and never closed before its end."""
        n = len(self.pos)
        if n < 2 or not self._container(0, n - 1) or self.before.max() >= MAX_DEPTH - 1:
            return False
        return not self.data[:self.pos[0]].strip(_WS) and not self.data[self.pos[-1] + 1:].strip(_WS)

    def _container(self, i: int, j: int) -> bool:
        """Structural chars i and j open and close one container (nothing between closes it)."""
        d = self.before[i]
        return (self.ch[i] in (ord("["), ord("{")) and int(self.ch[j]) - int(self.ch[i]) == 2
                and self.after[j] == d and (j == i + 1 or self.after[i + 1:j].min() > d))

    def value(self, i: int, j: int) -> Any:
        """The container from structural char i (its opener) to j (its closer): split when it
        holds more than SLICE_VALUES structural chars and stands less than SPLIT_DEPTH deep (no
        recursion beyond that: a document nested 1,000 deep is one call, as orjson's limit allows)."""
        if j - i <= SLICE_VALUES or self.before[i] >= SPLIT_DEPTH:
            return orjson.loads(self.data[int(self.pos[i]):int(self.pos[j]) + 1])
        level = self.before[i] + 1
        seps = i + 1 + np.flatnonzero((self.before[i + 1:j] == level) & (self.ch[i + 1:j] == ord(",")))
        bounds = np.concatenate(([i], seps, [j]))                  # item k: between bounds k and k + 1
        big = np.flatnonzero(np.diff(bounds) > SLICE_VALUES)       # items split again, alone
        runs = np.flatnonzero(np.diff((bounds - i) // SLICE_VALUES)) + 1
        cuts = np.unique(np.concatenate(([0, len(bounds) - 1], runs, big, big + 1)))
        alone = set(big.tolist())
        is_list = self.ch[i] == ord("[")
        out: Any = [] if is_list else {}
        for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
            if a in alone:
                self._item(out, is_list, int(bounds[a]), int(bounds[b]))
            else:
                self._run(out, is_list, int(bounds[a]), int(bounds[b]))
        return out

    def _text(self, a: int, b: int) -> bytes:
        """The bytes strictly between structural chars a and b."""
        return self.data[int(self.pos[a]) + 1:int(self.pos[b])]

    def _run(self, out: Any, is_list: bool, a: int, b: int) -> None:
        """The items (members) between separators a and b, parsed in one call."""
        text = self._text(a, b)
        if not text.strip(_WS):                                     # an empty item: `[1,,2]`, `[1,]`
            raise orjson.JSONDecodeError("empty array item or object member", "", int(self.pos[a]) + 1)
        if is_list:
            out.extend(orjson.loads(b"[" + text + b"]"))
        else:
            out.update(orjson.loads(b"{" + text + b"}"))

    def _item(self, out: Any, is_list: bool, a: int, b: int) -> None:
        """One big item (member) between separators a and b: its container split again; anything
        else in one call, where orjson decides."""
        first, lead_from, key = a + 1, int(self.pos[a]) + 1, None
        if not is_list:                                             # a member: "key": value
            if self.ch[first] != ord(":"):
                return self._run(out, is_list, a, b)
            key = orjson.loads(self.data[lead_from:int(self.pos[first])])
            first, lead_from = first + 1, int(self.pos[first]) + 1
        if (first >= b - 1 or not self._container(first, b - 1) or self.data[lead_from:int(self.pos[first])].strip(_WS)
                or self._text(b - 1, b).strip(_WS) or not isinstance(key, (str, type(None)))):
            return self._run(out, is_list, a, b)
        v = self.value(first, b - 1)
        if is_list:
            out.append(v)
        else:
            out[key] = v
