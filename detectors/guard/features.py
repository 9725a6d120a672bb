"""Lexical features for the prompt guard: hashed character and word n-grams.

The text is NFKC-normalised (full-width and styled letters fold to ASCII), lower-cased, and common
look-alike characters (Cyrillic / Greek homoglyphs, leetspeak digits) are folded in a second view,
so `ｉｇｎｏｒｅ`, `іgnore` and `1gn0re` share n-grams with `ignore`. Features:

- character n-grams (n = 3..5) of the normalised text, hashed with a vectorised polynomial hash;
- character 4-grams of the folded view (separate hash space);
- word unigrams and bigrams;

Each text becomes (bucket indices, weights): log(1 + count), L2-normalised. Everything is
deterministic across processes (no Python `hash`). Very long texts keep their first and last
`MAX_CHARS // 2` characters.
"""
from __future__ import annotations

import re
import unicodedata
import zlib

import numpy as np

MAX_CHARS = 4000
_WORD = re.compile(r"\w+", re.UNICODE)
_SPACE = re.compile(r"\s+")
_P = np.uint64(0x100000001B3)
_MASK = np.uint64(0xFFFFFFFF)

# look-alikes -> ASCII (after NFKC + lower): Cyrillic, Greek, leetspeak
_FOLD = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j",
    "ѕ": "s", "һ": "h", "ԁ": "d", "ɡ": "g", "к": "k", "м": "m", "т": "t", "в": "b", "н": "h",
    "α": "a", "ο": "o", "ρ": "p", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "τ": "t", "υ": "u",
    "χ": "x", "ѵ": "v", "ӏ": "l",
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "+": "t",
    "|": "l", "!": "i",
})


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower()
    return _SPACE.sub(" ", t).strip()


def fold(t: str) -> str:
    """Second view: homoglyphs / leetspeak folded, combining marks and separators dropped."""
    t = t.translate(_FOLD)
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    # drop separators used to split words: i.g.n.o.r.e, i-g-n-o-r-e, \i\g\n\o\r\e
    t = re.sub(r"(?<=\w)[\\._\-*/|~^`'\"](?=\w)", "", t)
    return re.sub(r"[^\w ]+", " ", t)


def _clip(text: str) -> str:
    if len(text) > MAX_CHARS:
        h = MAX_CHARS // 2
        return text[:h] + " " + text[-h:]
    return text


def _char_hashes(t: str, ns: tuple[int, ...], salt: int) -> np.ndarray:
    if not t:
        return np.zeros(0, np.uint64)
    cp = np.frombuffer(t.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    out = []
    for n in ns:
        if len(cp) < n:
            continue
        h = np.full(len(cp) - n + 1, np.uint64(salt * 1000003 + n), np.uint64)
        for k in range(n):
            h = (h * _P + cp[k:len(cp) - n + 1 + k]) & _MASK
        out.append(h)
    return np.concatenate(out) if out else np.zeros(0, np.uint64)


def _word_hashes(t: str) -> np.ndarray:
    words = _WORD.findall(t)
    if not words:
        return np.zeros(0, np.uint64)
    w = np.array([zlib.crc32(x.encode("utf-8", "surrogatepass")) for x in words], np.uint64)
    uni = (w * np.uint64(31) + np.uint64(7)) & _MASK
    bi = ((w[:-1] * _P + w[1:]) * np.uint64(17) + np.uint64(11)) & _MASK
    return np.concatenate([uni, bi])


def featurize(text: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed features of one text: (int64 bucket ids, float32 weights), unique ids, L2 norm 1."""
    raw = _clip(text)
    t = normalise(raw)
    f = fold(t)
    hs = [_char_hashes(" " + t + " ", (3, 4, 5), 1), _char_hashes(" " + f + " ", (4,), 2),
          _word_hashes(t)]
    h = np.concatenate(hs)
    if h.size == 0:
        h = np.array([zlib.crc32(b"empty")], np.uint64)
    idx = (h % np.uint64(dim)).astype(np.int64)
    ids, counts = np.unique(idx, return_counts=True)
    w = np.log1p(counts.astype(np.float32))
    w /= np.linalg.norm(w) + 1e-12
    return ids, w.astype(np.float32)


def featurize_many(texts, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR-style batch: (ids, weights, offsets) for torch EmbeddingBag."""
    ids, ws, offs = [], [], []
    n = 0
    for t in texts:
        i, w = featurize(t, dim)
        offs.append(n)
        ids.append(i)
        ws.append(w)
        n += len(i)
    if not ids:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return np.concatenate(ids), np.concatenate(ws), np.array(offs, np.int64)


def matrix(texts, dim: int):
    """Features of many texts as a scipy CSR matrix (n x dim)."""
    import scipy.sparse as sp
    ids, ws, offs = featurize_many(list(texts), dim)
    indptr = np.append(offs, len(ids)).astype(np.int64)
    return sp.csr_matrix((ws.astype(np.float64), ids, indptr), shape=(len(offs), dim))


class FeatureCache:
    """Hashed n-gram rows computed once per distinct window text, shared by every fold."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, texts: list[str]):
        import scipy.sparse as sp
        if not texts:
            return sp.csr_matrix((0, self.dim))
        ids, ws, ptr = [], [], [0]
        for t in texts:
            r = self._rows.get(t)
            if r is None:
                r = self._rows[t] = featurize(t, self.dim)
            ids.append(r[0])
            ws.append(r[1])
            ptr.append(ptr[-1] + len(r[0]))
        return sp.csr_matrix((np.concatenate(ws).astype(np.float64), np.concatenate(ids), np.array(ptr)),
                             shape=(len(texts), self.dim))
