"""Value matchers: a pySigma detection value (after its modifiers) -> a predicate over an Entry.

Plain strings compare case-insensitively against pre-lowercased values (Sigma's default);
`|cased` strings compare as written. Wildcards `*`/`?` become startswith/endswith/contains when the
pattern allows, a compiled regex otherwise. `|re` is unanchored (search), case-sensitive unless
`|i`. `|cidr`, `|exists`, `|lt|lte|gt|gte`, `null`, booleans, numbers, `|fieldref`, the expansion
modifiers (`|base64offset`, `|windash`...) and the timestamp parts (`|hour`, `|day`... on a time
field, UTC) are supported.
Each matcher is `fn(entry, view) -> bool`; `entry` is None when the field is absent.
"""
from __future__ import annotations

import ipaddress
import operator
import re
from datetime import datetime, timezone
from typing import Any, Callable

from sigma.types import (SigmaTimestampPart, CompareOperators, SigmaBool, SigmaCasedString, SigmaCIDRExpression,
                         SigmaCompareExpression, SigmaExists, SigmaExpansion, SigmaFieldReference,
                         SigmaNull, SigmaNumber, SigmaRegularExpression,
                         SigmaString, SpecialChars)

from core.times import parse_time_or_none
from detectors.sigma.fields import Entry, EventView

Matcher = Callable[[Entry | None, EventView], bool]


class UnsupportedValue(ValueError):
    """A Sigma value type this engine cannot evaluate (reported, the rule is not loaded)."""


def string_pattern(s: SigmaString) -> tuple[str, str]:
    """(kind, text): kind is exact|prefix|suffix|contains|any|regex (regex text is a Python regex)."""
    parts = list(s.s)
    if any(not isinstance(p, (str, SpecialChars)) for p in parts):
        raise UnsupportedValue(f"placeholder in value {s.original!r} (needs a processing pipeline)")
    specials = [p for p in parts if isinstance(p, SpecialChars)]
    if not specials:
        return "exact", "".join(parts)
    if all(p is SpecialChars.WILDCARD_MULTI for p in parts):
        return "any", ""
    multi = SpecialChars.WILDCARD_MULTI
    if len(parts) == 2 and parts[1] is multi and isinstance(parts[0], str):
        return "prefix", parts[0]
    if len(parts) == 2 and parts[0] is multi and isinstance(parts[1], str):
        return "suffix", parts[1]
    if len(parts) == 3 and parts[0] is multi and parts[2] is multi and isinstance(parts[1], str):
        return "contains", parts[1]
    rx = []
    for p in parts:
        if p is SpecialChars.WILDCARD_MULTI:
            rx.append(".*")
        elif p is SpecialChars.WILDCARD_SINGLE:
            rx.append(".")
        else:
            rx.append(re.escape(p))
    return "regex", "".join(rx)


def _str_matcher(kind: str, text: str, cased: bool) -> Matcher:
    if kind == "any":
        return lambda e, v: e is not None and any(x is not None for x in e.vals)
    if not cased:
        text = text.lower()
    if kind == "regex":
        rx = re.compile(text, re.DOTALL if cased else re.DOTALL | re.IGNORECASE)
        fm = rx.fullmatch
        if cased:
            return lambda e, v: e is not None and any(fm(s) for s in e.strs)
        return lambda e, v: e is not None and any(fm(s) for s in e.lows)
    if cased:
        if kind == "exact":
            return lambda e, v: e is not None and text in e.strs
        if kind == "prefix":
            return lambda e, v: e is not None and any(s.startswith(text) for s in e.strs)
        if kind == "suffix":
            return lambda e, v: e is not None and any(s.endswith(text) for s in e.strs)
        return lambda e, v: e is not None and any(text in s for s in e.strs)
    if kind == "exact":
        return lambda e, v: e is not None and text in e.lows
    if kind == "prefix":
        return lambda e, v: e is not None and any(s.startswith(text) for s in e.lows)
    if kind == "suffix":
        return lambda e, v: e is not None and any(s.endswith(text) for s in e.lows)
    return lambda e, v: e is not None and any(text in s for s in e.lows)


def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, str):
        try:
            return float(x.strip())
        except ValueError:
            return None
    return None


def number_equals(x: Any, n: float, sn: str) -> bool:
    """A Sigma number value against one field value: numerically, or as the number's own spelling."""
    return _num(x) == n or (isinstance(x, str) and x.lower() == sn)


_CMP = {CompareOperators.LT: operator.lt, CompareOperators.LTE: operator.le,
        CompareOperators.GT: operator.gt, CompareOperators.GTE: operator.ge,
        CompareOperators.NEQ: operator.ne}


def compile_value(val: Any) -> tuple[Matcher, tuple[str, str] | None, str]:
    """(matcher, exact-key or None, description). exact-key = ("ci"|"cs", value) for plain strings."""
    if isinstance(val, SigmaCasedString):
        kind, text = string_pattern(val)
        return _str_matcher(kind, text, True), (("cs", text) if kind == "exact" else None), f"{kind}:{text}"
    if isinstance(val, SigmaString):
        kind, text = string_pattern(val)
        return _str_matcher(kind, text, False), (("ci", text.lower()) if kind == "exact" else None), f"{kind}:{text}"
    if isinstance(val, SigmaTimestampPart):
        part = val.timestamp_part.name.lower()
        want = int(val.number)

        def ts(e: Entry | None, v: EventView, _p=part, _w=want) -> bool:
            if e is None:
                return False
            for x in e.vals:
                t = parse_time_or_none(x)
                if t is None:
                    continue
                d = datetime.fromtimestamp(t, tz=timezone.utc)
                got = {"minute": d.minute, "hour": d.hour, "day": d.day, "week": d.isocalendar()[1],
                       "month": d.month, "year": d.year}.get(_p)
                if got == _w:
                    return True
            return False
        return ts, None, f"{part}:{want}"
    if isinstance(val, SigmaBool):
        b = bool(val.boolean)
        s = "true" if b else "false"
        return (lambda e, v: e is not None and any((x is b) or (isinstance(x, str) and x.lower() == s)
                                                   for x in e.vals)), None, f"bool:{s}"
    if isinstance(val, SigmaNumber):
        n = float(val.number)
        sn = str(val.number).lower()
        # no exact-string key: "403.0" or " 403" equal 403 numerically, so a set lookup of "403" would
        # route differently from this matcher (the index must never change a result)
        return (lambda e, v: e is not None and any(number_equals(x, n, sn) for x in e.vals)), None, \
            f"number:{val.number}"
    if isinstance(val, SigmaNull):
        return (lambda e, v: e is None or all(x is None for x in e.vals) or e.vals == ()), None, "null"
    if isinstance(val, SigmaExists):
        want = bool(val.exists)
        return (lambda e, v: (e is not None and any(x is not None for x in e.vals)) == want), None, f"exists:{want}"
    if isinstance(val, SigmaRegularExpression):
        flags = 0
        for f in val.flags:
            flags |= SigmaRegularExpression.sigma_to_python_flags[f]
        try:
            rx = re.compile(val.regexp.to_plain() if hasattr(val.regexp, "to_plain") else str(val.regexp), flags)
        except re.error as ex:
            raise UnsupportedValue(f"invalid regular expression {val.regexp}: {ex}") from None
        srch = rx.search
        return (lambda e, v: e is not None and any(srch(s) for s in e.strs)), None, f"re:{rx.pattern}"
    if isinstance(val, SigmaCIDRExpression):
        net = val.network

        def cidr(e: Entry | None, v: EventView) -> bool:
            if e is None:
                return False
            for s in e.strs:
                try:
                    if ipaddress.ip_address(s.strip()) in net:
                        return True
                except ValueError:
                    continue
            return False
        return cidr, None, f"cidr:{net}"
    if isinstance(val, SigmaCompareExpression):
        op = _CMP[val.op]
        n = float(val.number.number)
        return (lambda e, v: e is not None and any((x := _num(y)) is not None and op(x, n) for y in e.vals)), \
            None, f"{val.op.name.lower()}:{val.number.number}"
    if isinstance(val, SigmaFieldReference):
        other = val.field
        sw, ew = val.starts_with, val.ends_with

        # pySigma marks |fieldref|contains as both starts_with and ends_with: the other field's value
        # anywhere in this one (not "starts or ends with it")
        test = (str.__contains__ if sw and ew else str.startswith if sw else str.endswith if ew else str.__eq__)

        def fieldref(e: Entry | None, v: EventView) -> bool:
            o = v.get(other)
            if e is None or o is None:
                return False
            for a in e.lows:
                for b in o.lows:
                    if test(a, b):
                        return True
            return False
        return fieldref, None, f"fieldref:{other}"
    if isinstance(val, SigmaExpansion):
        subs = [compile_value(x)[0] for x in val.values]
        return (lambda e, v: any(m(e, v) for m in subs)), None, "expansion"
    raise UnsupportedValue(f"unsupported value type {type(val).__name__} ({val!r})")
