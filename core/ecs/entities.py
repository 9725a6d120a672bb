"""The entities an alert is about, as top-level ECS fields (`user.*`, `source.*`, `cloud.*`,
`orchestrator.*`, `host.*`), so Kibana and plain queries find them without knowing warden's evidence.

Where they come from, first found wins per field, distinct values kept (up to MAX_VALUES):
- the evidence, at any depth, as ECS keys — dotted (`"source.ip"`), nested (`{"user": {"name":..}}`)
  or under any parent (`evidence.event["cloud.account.id"]`): every path whose tail is an ECS field
  of those sets;
- the alert's labels (`node` → host.name; labels named like ECS fields);
- the alert's entity by its detector: the principal of an audit alert (sigma, ueba) is `user.name`
  (an AWS ARN's user or role name),
  the node of a GPU / training alert `host.name`.
Values that do not fit their ECS type (an IP field holding a hostname) are left out here — they stay
in `warden.alert.evidence` — and their field names are listed in `warden.ecs_invalid`.
"""
from __future__ import annotations

from typing import Any

from core.ecs.fields import ENTITY_PREFIXES, coerce, ecs
from core.event import Alert

MAX_VALUES = 10
MAX_DEPTH = 6
USER_DETECTORS = ("sigma", "ueba")
HOST_DETECTORS = ("gpu_memory_leak", "straggler", "hostmetrics")
LABEL_FIELDS = {"node": "host.name", "namespace": "orchestrator.namespace", "pod": "orchestrator.resource.name",
                "cluster": "orchestrator.cluster.name", "account": "cloud.account.id", "region": "cloud.region"}
ALIASES = {"principal": "user.name"}


def _walk(obj: Any, path: tuple[str, ...], out: list[tuple[tuple[str, ...], Any]], depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            _walk(v, path + tuple(str(k).split(".")), out, depth + 1)
    elif isinstance(obj, (list, tuple)) and obj and not isinstance(obj[0], (dict, list, tuple)):
        for v in obj[:MAX_VALUES]:
            out.append((path, v))
    elif isinstance(obj, (list, tuple)):
        for v in obj[:MAX_VALUES]:
            _walk(v, path, out, depth + 1)
    elif obj not in (None, ""):
        out.append((path, obj))


def _entity_field(path: tuple[str, ...]) -> str | None:
    known = ecs()
    for i in range(len(path)):
        name = ".".join(path[i:])
        if name.startswith(ENTITY_PREFIXES) and name in known:
            return name
    return ALIASES.get(path[-1]) if path else None


def principal_name(principal: str) -> str:
    """The user name in a principal: an AWS ARN's user or role name (`arn:aws:iam::1:user/ops/alice`
    → alice, `arn:aws:sts::1:assumed-role/Admin/session` → Admin), other principals as they are."""
    if not principal.startswith("arn:"):
        return principal
    resource = principal.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    if not rest:
        return principal
    parts = rest.split("/")
    return parts[0] if kind == "assumed-role" else parts[-1]


def _candidates(alert: Alert) -> list[tuple[str, Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    _walk(alert.evidence or {}, (), found)
    out = [(f, principal_name(v) if p[-1:] == ("principal",) and isinstance(v, str) else v)
           for p, v in found if (f := _entity_field(p))]
    for k, v in (alert.labels or {}).items():
        f = LABEL_FIELDS.get(k) or (k if k.startswith(ENTITY_PREFIXES) and k in ecs() else None)
        if f:
            out.append((f, v))
    dtype = alert.detector.split("/", 1)[0]
    if dtype in USER_DETECTORS:
        out.append(("user.name", principal_name(alert.entity)))
    elif dtype in HOST_DETECTORS:
        out.append(("host.name", alert.entity))
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, v in sorted(flat.items()):
        node = tree
        parts = name.split(".")
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):        # a.b holds a value and a.b.c too: keep the value
                break
            node = nxt
        else:
            node[parts[-1]] = v
    return tree


def entity_fields(alert: Alert) -> tuple[dict[str, Any], list[str]]:
    """(nested ECS entity fields, names of fields whose values did not fit their type)."""
    values: dict[str, list[Any]] = {}
    invalid: set[str] = set()
    for name, raw in _candidates(alert):
        try:
            v = coerce(name, raw)
        except (ValueError, TypeError, OverflowError):
            invalid.add(name)
            continue
        vals = values.setdefault(name, [])
        for x in v if isinstance(v, list) else [v]:
            if x not in vals and len(vals) < MAX_VALUES:
                vals.append(x)
    known = ecs()
    flat = {k: (v[0] if len(v) == 1 and "array" not in known[k].get("normalize", ()) else v)
            for k, v in values.items() if v}
    return _nest(flat), sorted(invalid - set(flat))
