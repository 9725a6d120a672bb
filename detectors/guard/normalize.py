"""Text the guard scores: Unicode evasion undone, hidden and encoded payloads made visible.

`clean(text)` is the canonical form every stage sees:
- NFKC (full-width and styled letters fold to plain ones: `ｉｇｎｏｒｅ` -> `ignore`);
- zero-width characters, soft hyphens, word joiners, BOMs, variation selectors and bidi controls
  (embeddings, overrides, isolates, marks) removed;
- Unicode tag characters (U+E0020..U+E007E, invisible "ASCII smuggling") turned back into the
  ASCII they encode, where they stand;
- Cyrillic / Greek look-alike letters folded to Latin inside words that also hold Latin letters
  (`іgnоrе` -> `ignore`); words wholly in Cyrillic or Greek are real text and stay as they are.

`views(text)` is the cleaned text plus each decoded payload it carries, every one scored on its own
(the guard takes the highest score): base64 runs that decode to readable UTF-8 text, the rot13 of
the text when that reads more like English than the text itself, and the text with leetspeak
digits folded when several words mix letters with leet digits (`1gn0r3 4ll`).
"""
from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from dataclasses import dataclass

_INVISIBLE = dict.fromkeys([0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF,
                            0xFFA0, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070),
                            *range(0xFE00, 0xFE10)])
_TAGS = {c: (chr(c - 0xE0000) if 0xE0020 <= c <= 0xE007E else None) for c in range(0xE0000, 0xE0080)}
_CONFUSABLE = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "һ": "h", "ԁ": "d", "ɡ": "g", "к": "k", "м": "m", "т": "t", "в": "b", "н": "h", "ӏ": "l", "ԛ": "q",
    "ԝ": "w", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
    "α": "a", "ο": "o", "ρ": "p", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "τ": "t", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})
_WORD = re.compile(r"\w+", re.UNICODE)
_LATIN = re.compile(r"[A-Za-z]")
_NON_LATIN_LOOKALIKE = re.compile(r"[\u0370-\u03FF\u0400-\u052F\u0261]")
_B64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_LEET_WORD = re.compile(r"\b(?=\w*[a-zA-Z])(?=\w*[013457])[a-zA-Z013457@$]{3,}\b")
_ENGLISH = frozenset("the and you your all to of is are a in that this it for with be not from as on now "
                     "ignore previous instructions say print reveal password system prompt tell me what".split())


def _fold_word(m: re.Match) -> str:
    w = m.group(0)
    if _LATIN.search(w) and _NON_LATIN_LOOKALIKE.search(w):
        return w.translate(_CONFUSABLE)
    return w


def clean(text: str) -> str:
    t = text.translate(_TAGS) if any(0xE0000 <= ord(c) <= 0xE007F for c in text) else text
    t = unicodedata.normalize("NFKC", t).translate(_INVISIBLE)
    return _WORD.sub(_fold_word, t)


@dataclass(frozen=True)
class View:
    name: str      # "text", "base64", "rot13", "leetspeak"
    text: str


def _english_words(t: str) -> int:
    return sum(1 for w in _WORD.findall(t.lower()) if w in _ENGLISH)


def _base64_payloads(t: str, limit: int = 4) -> list[str]:
    out = []
    for m in _B64.finditer(t):
        s = m.group(0)
        if s.isalpha() or s.isdigit():
            continue
        try:
            raw = base64.b64decode(s + "=" * (-len(s) % 4), altchars=b"-_" if ("-" in s or "_" in s) else None,
                                   validate=True)
            dec = raw.decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        printable = sum(1 for c in dec if c.isprintable() or c in "\n\t")
        if len(dec) >= 8 and printable >= 0.95 * len(dec) and " " in dec.strip():
            out.append(clean(dec))
            if len(out) >= limit:
                break
    return out


def views(text: str) -> list[View]:
    """The cleaned text, then any decoded payloads (each a view of its own)."""
    t = clean(text)
    out = [View("text", t)]
    for p in _base64_payloads(t):
        out.append(View("base64", p))
    sample = t[:4000]
    r = codecs.encode(sample, "rot13")
    n_r = _english_words(r)
    if n_r >= 3 and n_r > 2 * _english_words(sample):
        out.append(View("rot13", codecs.encode(t, "rot13")))
    if len(_LEET_WORD.findall(sample)) >= 2:
        out.append(View("leetspeak", _LEET_WORD.sub(lambda m: m.group(0).translate(_LEET), t)))
    return out
