"""Compile detections and the condition expression into one predicate over an EventView.

A compiled node is `Node(fn, req)`: `fn(view) -> bool` and `req`, a map field -> frozenset of
lower-case exact values one of which the field *must* hold for the node to match (used to index
rules by eventName / verb / methodName so most rules are never evaluated for an event).
Conditions come from pySigma's parser (`1 of`, `all of`, `x of them`, `not`, `and`, `or`, brackets).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from sigma.conditions import (ConditionAND, ConditionIdentifier, ConditionNOT, ConditionOR,
                              ConditionSelector, SigmaCondition)
from sigma.rule import SigmaDetection, SigmaDetectionItem

from detectors.sigma.fields import Entry, EventView
from detectors.sigma.modifiers import compile_value

Pred = Callable[[EventView], bool]
_MISS = object()


class CompileError(ValueError):
    pass


#: fields rules can be indexed on, best first (must hold exact, lower-case values)
INDEX_FIELDS = ("eventName", "objectRef.resource", "gcp.audit.method_name", "protoPayload.methodName",
                "data.protoPayload.methodName", "protoPayload.authorizationInfo.permission", "userIdentity.type",
                "verb", "user.username", "eventSource", "responseStatus.code")
_RANK = {f: i for i, f in enumerate(INDEX_FIELDS)}

#: ((field, frozenset(lower-case exact values), patterns), ...): the node can only match if, for one of
#: them, a value of the field is one of the exact values or satisfies one of the patterns. A pattern is
#: a hashable tuple (kind, text[, flags]) evaluated by `pattern_pred` on a value's string and lower-case
#: forms exactly as the value matchers do (so the index never changes what a rule matches)
Alts = tuple
#: rank of fields outside INDEX_FIELDS: still indexable (a rule is then evaluated only for events whose
#: field value can match), but any INDEX_FIELDS option is preferred
_OTHER_RANK = len(INDEX_FIELDS)


@dataclass
class Node:
    fn: Pred
    req: dict[str, frozenset] = field(default_factory=dict)
    fields: tuple[str, ...] = ()
    #: disjunctive index key: one of these (field, values) must hold for a match, or None
    alts: Alts | None = None


def _alts_cost(a: Alts) -> tuple:
    return (max(_RANK.get(f, _OTHER_RANK) for f, _, _ in a), sum(1 for _, _, p in a if p),
            sum(len(v) + len(p) for _, v, p in a))


def _best_alts(options: list) -> Alts | None:
    opts = [o for o in options if o]
    return min(opts, key=_alts_cost) if opts else None


def _req_alts(req: dict) -> Alts | None:
    return _best_alts([((f, v, ()),) for f, v in req.items()])


def _and(nodes: list[Node]) -> Node:
    fns = tuple(n.fn for n in nodes)
    if len(fns) == 1:
        fn = fns[0]
    elif len(fns) == 2:
        a, b = fns
        fn = lambda v: a(v) and b(v)  # noqa: E731
    else:
        def fn(v, _fns=fns):
            for f in _fns:
                if not f(v):
                    return False
            return True
    req: dict[str, frozenset] = {}
    for n in nodes:
        for k, s in n.req.items():
            req[k] = req[k] & s if k in req else s
    alts = _best_alts([_req_alts(req)] + [n.alts for n in nodes])
    return Node(fn, req, tuple(dict.fromkeys(f for n in nodes for f in n.fields)), alts)


def _or(nodes: list[Node]) -> Node:
    fns = tuple(n.fn for n in nodes)
    if len(fns) == 1:
        fn = fns[0]
    elif len(fns) == 2:
        a, b = fns
        fn = lambda v: a(v) or b(v)  # noqa: E731
    else:
        def fn(v, _fns=fns):
            for f in _fns:
                if f(v):
                    return True
            return False
    req: dict[str, frozenset] = {}
    if nodes:
        common = set(nodes[0].req)
        for n in nodes[1:]:
            common &= set(n.req)
        for k in common:
            req[k] = frozenset().union(*(n.req[k] for n in nodes))
    alts = None
    if nodes and all(n.alts for n in nodes):
        alts = tuple(a for n in nodes for a in n.alts)
    alts = _best_alts([_req_alts(req), alts])
    return Node(fn, req, tuple(dict.fromkeys(f for n in nodes for f in n.fields)), alts)


def _not(node: Node) -> Node:
    f = node.fn
    return Node(lambda v: not f(v), {}, node.fields)


def compile_item(item: SigmaDetectionItem) -> Node:
    if not item.value:
        raise CompileError(f"field {item.field!r} has no values")
    compiled = [compile_value(v) for v in item.value]
    linking_and = item.value_linking is ConditionAND
    matchers = [c[0] for c in compiled]
    exact = [c[1] for c in compiled]
    fieldname = item.field
    req: dict[str, frozenset] = {}
    if fieldname is None:                      # keyword: any value anywhere in the record
        def kw_one(m):
            def f(view: EventView) -> bool:
                e = Entry(())
                e.strs, e.lows = view.text()
                return m(e, view)
            return f
        fns = [kw_one(m) for m in _keywordise(item.value)]
        node = _and([Node(f) for f in fns]) if linking_and else _or([Node(f) for f in fns])
    else:
        if not linking_and and len(matchers) > 1 and all(x is not None and x[0] == "ci" for x in exact):
            values = frozenset(x[1] for x in exact)   # one set lookup for a list of plain values

            def fn(view: EventView, _f=fieldname, _s=values) -> bool:
                e = view._cache.get(_f, _MISS)
                if e is _MISS:
                    e = view.get(_f)
                if e is None:
                    return False
                for s in e.lows:
                    if s in _s:
                        return True
                return False
            req = {fieldname: values}
        elif len(matchers) == 1:
            m = matchers[0]
            g = _value_guard(item.value[0])
            if g is not None and g[0] in _CI_TESTS:
                fn = _ci_fn(fieldname, g[0], g[1])      # the value's matcher inline, one call less
            else:
                def fn(view: EventView, _f=fieldname, _m=m) -> bool:
                    e = view._cache.get(_f, _MISS)
                    if e is _MISS:
                        e = view.get(_f)
                    return _m(e, view)
            if exact[0] is not None and exact[0][0] == "ci":
                req = {fieldname: frozenset([exact[0][1]])}
        elif linking_and:
            ms = tuple(matchers)

            def fn(view: EventView, _f=fieldname, _ms=ms) -> bool:
                e = view.get(_f)
                return all(m(e, view) for m in _ms)
        else:
            grouped = _grouped_strings(item.value)
            if grouped is not None:
                fn = _group_fn(fieldname, *grouped)
            else:
                ms = tuple(matchers)

                def fn(view: EventView, _f=fieldname, _ms=ms) -> bool:
                    e = view.get(_f)
                    return any(m(e, view) for m in _ms)
            if all(x is not None and x[0] == "ci" for x in exact):
                req = {fieldname: frozenset(x[1] for x in exact)}
        alts = _req_alts(req)
        if alts is None:
            alts = _item_alts(fieldname, item.value, linking_and)
        node = Node(fn, req, (fieldname,), alts)
    if item.negated:
        node = _not(node)
    return node


def _value_guard(val):
    """What one value's matcher requires of some value of the field: ("exact", lower-case text),
    a pattern tuple, or None (no usable requirement: null, exists: false, numbers, cidr, fieldref...).
    Strings: (kind, text) on the lower-case form, ("cs_" + kind, text) on the string as written."""
    from sigma.types import SigmaCasedString, SigmaExists, SigmaNumber, SigmaRegularExpression, SigmaString
    from detectors.sigma.modifiers import string_pattern
    if isinstance(val, SigmaString):
        kind, text = string_pattern(val)
        if kind == "any":
            return ("exists",)
        if isinstance(val, SigmaCasedString):
            return ("cs_" + kind, text)
        if kind == "exact":
            return ("exact", text.lower())
        return (kind, text.lower())
    if isinstance(val, SigmaExists):
        return ("exists",) if val.exists else None
    if type(val) is SigmaNumber:      # "403", 403, 403.0 and "403.0" all match 403 (not its subclasses: |hour...)
        return ("num", float(val.number), str(val.number).lower())
    if isinstance(val, SigmaRegularExpression):       # as modifiers.compile_value compiles it
        flags = 0
        for f in val.flags:
            flags |= SigmaRegularExpression.sigma_to_python_flags[f]
        text = val.regexp.to_plain() if hasattr(val.regexp, "to_plain") else str(val.regexp)
        return ("re", text, int(flags))
    return None


def _item_alts(fieldname: str, values: list, linking_and: bool) -> Alts | None:
    """Index key of a field item from its values' guards: OR-linked values need one of them to hold,
    AND-linked (|all) ones need each of them (one is enough as a key)."""
    guards = [_value_guard(v) for v in values]
    if linking_and and len(guards) > 1:
        guards = [g for g in guards if g is not None][:1]
    if not guards or any(g is None for g in guards):
        return None
    exact = frozenset(g[1] for g in guards if g[0] == "exact")
    pats = tuple(dict.fromkeys(g for g in guards if g[0] != "exact"))
    return ((fieldname, exact, pats),)


def pattern_pred(pat: tuple) -> Callable[[str, str], bool]:
    """A pattern of `_value_guard` as `pred(string, lower-case string)`."""
    kind = pat[0]
    if kind == "exists":
        return lambda s, low: True
    if kind == "re":
        srch = re.compile(pat[1], pat[2]).search
        return lambda s, low: srch(s) is not None
    if kind == "num":
        from detectors.sigma.modifiers import number_equals
        return lambda s, low, _n=pat[1], _sn=pat[2]: number_equals(s, _n, _sn)
    cased = kind.startswith("cs_")
    kind = kind[3:] if cased else kind
    text = pat[1]
    if kind == "regex":
        fm = re.compile(text, re.DOTALL if cased else re.DOTALL | re.IGNORECASE).fullmatch
        return (lambda s, low: fm(s) is not None) if cased else (lambda s, low: fm(low) is not None)
    if cased:
        return {"exact": lambda s, low: s == text, "prefix": lambda s, low: s.startswith(text),
                "suffix": lambda s, low: s.endswith(text), "contains": lambda s, low: text in s}[kind]
    return {"prefix": lambda s, low: low.startswith(text), "suffix": lambda s, low: low.endswith(text),
            "contains": lambda s, low: text in low}[kind]


_CI_TESTS = {"exact": str.__eq__, "prefix": str.startswith, "suffix": str.endswith, "contains": str.__contains__}


def _ci_fn(fieldname: str, kind: str, text: str) -> Pred:
    """One case-insensitive string value (lower-case `text`) on a field, as modifiers' matcher does it."""
    test = _CI_TESTS[kind]

    def fn(view: EventView) -> bool:
        e = view._cache.get(fieldname, _MISS)
        if e is _MISS:
            e = view.get(fieldname)
        if e is not None:
            for s in e.lows:
                if test(s, text):
                    return True
        return False
    return fn


def _grouped_strings(values: list):
    """OR-linked plain/wildcard case-insensitive strings -> (exact set, prefixes, suffixes, substrings, regex)."""
    from sigma.types import SigmaCasedString, SigmaString
    from detectors.sigma.modifiers import string_pattern
    exact, pre, suf, sub, rx = set(), [], [], [], []
    for v in values:
        if not isinstance(v, SigmaString) or isinstance(v, SigmaCasedString):
            return None
        kind, text = string_pattern(v)
        if kind == "any":
            return None
        t = text.lower()
        {"exact": lambda: exact.add(t), "prefix": lambda: pre.append(t), "suffix": lambda: suf.append(t),
         "contains": lambda: sub.append(t), "regex": lambda: rx.append(t)}[kind]()
    import re as _re
    regex = _re.compile("|".join(f"(?:{r})" for r in rx), _re.DOTALL | _re.IGNORECASE) if rx else None
    return frozenset(exact), tuple(pre), tuple(suf), tuple(sub), regex


def _group_fn(fieldname, exact, pre, suf, sub, regex):
    fm = regex.fullmatch if regex is not None else None

    def fn(view: EventView) -> bool:
        e = view._cache.get(fieldname, _MISS)
        if e is _MISS:
            e = view.get(fieldname)
        if e is None:
            return False
        for s in e.lows:
            if s in exact or (pre and s.startswith(pre)) or (suf and s.endswith(suf)):
                return True
            for x in sub:
                if x in s:
                    return True
            if fm is not None and fm(s):
                return True
        return False
    return fn


def _keywordise(values: list) -> list:
    """Keyword values match anywhere in any value: every string keyword is wrapped in `*...*`, wildcards
    or not (Sigma spec; pySigma's backends do the same: `evil*.exe` finds "run C:\\evil1.exe now")."""
    from sigma.types import SigmaString
    out = []
    for v in values:
        if isinstance(v, SigmaString):
            v = _wrap(v)
        out.append(compile_value(v)[0])
    return out


def _wrap(v):
    from sigma.types import SpecialChars
    multi = SpecialChars.WILDCARD_MULTI
    parts = list(v.s)
    head = [] if parts and parts[0] is multi else [multi]
    tail = [] if parts and parts[-1] is multi else [multi]
    w = type(v)()
    w.s = [*head, *parts, *tail]
    w.original = "*" * len(head) + v.original + "*" * len(tail)
    return w


def compile_detection(det: SigmaDetection) -> Node:
    nodes = [compile_item(i) if isinstance(i, SigmaDetectionItem) else compile_detection(i)
             for i in det.detection_items]
    return _and(nodes) if det.item_linking is ConditionAND else _or(nodes)


def compile_condition(cond: SigmaCondition, detections: dict[str, Node]) -> Node:
    try:
        tree = cond.parse(postprocess=False)
    except Exception as e:  # noqa: BLE001 - pySigma raises several types
        raise CompileError(f"condition {cond.condition!r}: {e}") from None
    return _compile_tree(tree, detections)


def _compile_tree(t, dets: dict[str, Node]) -> Node:
    if isinstance(t, ConditionIdentifier):
        if t.identifier not in dets:
            raise CompileError(f"condition names undefined detection {t.identifier!r}")
        return dets[t.identifier]
    if isinstance(t, ConditionSelector):
        pat = t.pattern
        rx = re.compile(".*" if pat == "them" else re.escape(pat).replace(r"\*", ".*"))
        names = [n for n in dets if rx.fullmatch(n) and (pat.startswith("_") or not n.startswith("_"))]
        if not names:
            raise CompileError(f"selector '{t.args[0]} of {pat}' matches no detection")
        nodes = [dets[n] for n in names]
        return _and(nodes) if t.cond_class is ConditionAND else _or(nodes)
    if isinstance(t, ConditionAND):
        return _and([_compile_tree(a, dets) for a in t.args])
    if isinstance(t, ConditionOR):
        return _or([_compile_tree(a, dets) for a in t.args])
    if isinstance(t, ConditionNOT):
        return _not(_compile_tree(t.args[0], dets))
    raise CompileError(f"unsupported condition element {type(t).__name__}")
