"""Field access for Sigma matching: one `EventView` per event, a cached lookup per field.

A Sigma field name is resolved, in order, in:
1. the record (attribute "audit.record" when the format canonicalised/unwrapped it, else "raw") as a
   dotted path; lists along the path are traversed (`authorizationInfo.permission` on a list of
   objects yields every permission);
2. the Kubernetes view of a GKE entry (attribute "audit.k8s"), so Kubernetes rules read GKE;
3. the flat ECS attributes (`user.name`, `gcp.audit.method_name`, ...);
4. aliases: `data.` prefixed names (some SIEM pipelines wrap GCP entries in `data`);
5. for names without dots, any key of that name anywhere in the Kubernetes object body
   (requestObject / responseObject: SigmaHQ writes `hostPath`, `capabilities` this way).
Values come back as a tuple of leaves (lists flattened) plus their string and lower-case forms.
"""
from __future__ import annotations

from typing import Any

import orjson

from core.event import Event
from core.names import AUDIT_K8S_VIEW, AUDIT_RECORD

MISSING = None


def to_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (int, float)):
        return str(v)
    try:
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(v)


class _No:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_NO = _No()


def walk(obj: Any, parts: tuple[str, ...], i: int = 0, suffixes: tuple[str, ...] | None = None) -> Any:
    """Value at a dotted path (with list traversal), or _NO. Keys match exactly (Sigma field names are
    case-sensitive; the formats canonicalise top-level key case). A key that itself contains dots
    ("authorization.k8s.io/decision", "nvidia.com/gpu") is found when it is the rest of the path."""
    v = _walk_plain(obj, parts, i)
    if v is _NO and len(parts) - i > 1:
        v = _walk_dotted(obj, parts, i, suffixes)
    return v


def _walk_plain(obj: Any, parts: tuple[str, ...], i: int) -> Any:
    n = len(parts)
    while i < n:
        if isinstance(obj, dict):
            obj = obj.get(parts[i], _NO)
            if obj is _NO:
                return _NO
            i += 1
        elif isinstance(obj, list):
            return _walk_list(obj, parts, i, None, plain=True)
        else:
            return _NO
    return obj


def _walk_dotted(obj: Any, parts: tuple[str, ...], i: int, suffixes: tuple[str, ...] | None) -> Any:
    n = len(parts)
    while i < n:
        if isinstance(obj, dict):
            if i < n - 1:
                whole = obj.get(suffixes[i] if suffixes is not None else ".".join(parts[i:]), _NO)
                if whole is not _NO:
                    return whole
            obj = obj.get(parts[i], _NO)
            if obj is _NO:
                return _NO
            i += 1
        elif isinstance(obj, list):
            return _walk_list(obj, parts, i, suffixes, plain=False)
        else:
            return _NO
    return obj


def _walk_list(obj: list, parts: tuple[str, ...], i: int, suffixes, plain: bool) -> Any:
    out = []
    for el in obj:
        v = _walk_plain(el, parts, i) if plain else _walk_dotted(el, parts, i, suffixes)
        if v is _NO:
            continue
        if isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out if out else _NO


def find_keys(obj: Any, key: str, out: list, depth: int = 0) -> None:
    """Every value of a key named `key` anywhere in obj."""
    if depth > 32:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == key:
                out.append(v)
            if isinstance(v, (dict, list)):
                find_keys(v, key, out, depth + 1)
    elif isinstance(obj, list):
        for el in obj:
            if isinstance(el, (dict, list)):
                find_keys(el, key, out, depth + 1)


def _leaves(v: Any) -> tuple:
    if isinstance(v, list):
        out: list = []
        for el in v:
            if isinstance(el, list):
                out.extend(_leaves(el))
            else:
                out.append(el)
        return tuple(out)
    return (v,)


class FieldPlan:
    """The precomputed access plan of one field name."""
    __slots__ = ("name", "parts", "suffixes", "alias_parts", "leaf_search", "single", "alias", "alias_top", "head")

    def __init__(self, name: str) -> None:
        self.name = name
        self.parts = tuple(name.split("."))
        self.head = self.parts[0]
        self.suffixes = tuple(".".join(self.parts[i:]) for i in range(len(self.parts)))
        alias = None
        if name.startswith("data.") and len(self.parts) > 1:
            alias = self.parts[1:]
        self.alias_parts = alias
        self.leaf_search = "." not in name
        self.single = len(self.parts) == 1
        #: plans of the alias paths (`data.X` -> `X`; `data.protoPayload.X` -> also top-level `X`)
        self.alias = FieldPlan(".".join(alias)) if alias is not None else None
        self.alias_top = (FieldPlan(".".join(alias[1:])) if alias is not None and alias[0] == "protoPayload"
                          and len(alias) > 1 else None)

    def _walk(self, obj: Any) -> Any:
        """`walk(obj, parts)` with the common case (nested dicts all the way) inline."""
        if self.single:
            return obj.get(self.name, _NO) if isinstance(obj, dict) else _walk_plain(obj, self.parts, 0)
        o = obj
        i = 0
        for p in self.parts:
            if isinstance(o, dict):
                o = o.get(p, _NO)
                if o is _NO:       # the plain walk misses: only a key with dots can still match
                    return _walk_dotted(obj, self.parts, 0, self.suffixes)
                i += 1
            elif isinstance(o, list):
                v = _walk_list(o, self.parts, i, None, plain=True)
                return v if v is not _NO else _walk_dotted(obj, self.parts, 0, self.suffixes)
            else:
                return _walk_dotted(obj, self.parts, 0, self.suffixes)
        return o

    def resolve(self, view: "EventView") -> Any:
        v = self._walk(view.record)
        if v is not _NO:
            return v
        if view.k8s is not None:
            v = self._walk(view.k8s)
            if v is not _NO:
                return v
        v = view.attrs.get(self.name, _NO)
        if v is not _NO:
            return v
        if self.alias is not None:
            v = self.alias._walk(view.record)
            if v is _NO and self.alias_parts[0] == "protoPayload":   # top-level LogEntry fields
                v = self.alias_top._walk(view.record) if self.alias_top is not None else view.record
            if v is not _NO:
                return v
        if self.leaf_search:
            found: list = []
            for body in view.bodies():
                find_keys(body, self.name, found)
            if found:
                return found if len(found) > 1 else found[0]
        return _NO


class Entry:
    """The resolved value of one field for one event: leaves, their strings, lower-cased strings."""
    __slots__ = ("vals", "strs", "lows")

    def __init__(self, vals: tuple) -> None:
        self.vals = vals
        if len(vals) == 1:
            v = vals[0]
            if type(v) is not str:
                if v is None:
                    self.strs = self.lows = ()
                    return
                v = to_str(v)
            self.strs = (v,)
            self.lows = (v.lower(),)
        else:
            self.strs = tuple(to_str(v) for v in vals if v is not None)
            self.lows = tuple(x.lower() for x in self.strs)

    def first(self) -> Any:
        if not self.vals:
            return None
        return self.vals[0] if len(self.vals) == 1 else list(self.vals)


_new_entry = object.__new__
_plans: dict[str, FieldPlan] = {}


def plan(name: str) -> FieldPlan:
    p = _plans.get(name)
    if p is None:
        p = _plans[name] = FieldPlan(name)
    return p


class EventView:
    """Lazily resolved, cached field values of one event."""
    __slots__ = ("event", "attrs", "record", "k8s", "_cache", "_text", "_lows")

    def __init__(self, event: Event) -> None:
        self.event = event
        attrs = event.attributes
        self.attrs = attrs
        rec = attrs.get(AUDIT_RECORD)
        if rec is None:
            rec = attrs.get("raw")
        self.record = rec if isinstance(rec, (dict, list)) else {}
        k = attrs.get(AUDIT_K8S_VIEW)
        self.k8s = k if isinstance(k, dict) else None
        self._cache: dict[str, Any] = {}
        self._text: tuple[str, ...] | None = None
        self._lows: tuple[str, ...] = ()

    def get(self, name: str) -> Entry | None:
        """The field's entry, or None when the field is absent."""
        cache = self._cache
        e = cache.get(name, _NO)
        if e is not _NO:
            return e
        p = _plans.get(name) or plan(name)
        rec = self.record
        if (self.k8s is None and p.alias is None and not p.leaf_search and type(rec) is dict
                and p.head not in rec and name not in rec and name not in self.attrs):
            cache[name] = None        # the record has neither the path's first key nor the whole name
            return None
        v = p.resolve(self)
        if v is _NO:
            e = None
        elif type(v) is str:                     # the common case, without the leaves pass
            e = _new_entry(Entry)
            e.vals = e.strs = (v,)
            e.lows = (v.lower(),)
        else:
            e = Entry(_leaves(v))
        cache[name] = e
        return e

    def bodies(self) -> list:
        out = []
        for src in (self.record, self.k8s):
            if isinstance(src, dict):
                for k in ("requestObject", "responseObject"):
                    b = src.get(k)
                    if isinstance(b, (dict, list)):
                        out.append(b)
        return out

    def text(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Every leaf value of the record as strings, as written and lower-cased (keyword search:
        `|cased` and `|re` keywords read the first, plain keywords the second)."""
        if self._text is None:
            out: list[str] = []
            _collect_text(self.record, out, 0)
            if self.k8s is not None:
                _collect_text(self.k8s, out, 0)
            self._text = tuple(out)
            self._lows = tuple(s.lower() for s in out)
        return self._text, self._lows


def _collect_text(obj: Any, out: list, depth: int) -> None:
    if depth > 32:
        return
    if isinstance(obj, dict):
        for v in obj.values():
            _collect_text(v, out, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _collect_text(v, out, depth + 1)
    elif obj is not None:
        out.append(to_str(obj))
