"""Per-principal behaviour profile: what a principal does, from where, with what, how often.

Everything is plain data (dicts of counts, numbers) so it snapshots as JSON. Value tables are
capped: when full, the least-seen quarter is evicted (such a value can become "new" again).
"""
from __future__ import annotations

import functools
import ipaddress
import math
from dataclasses import dataclass, field
from typing import Any

from core.event import Event
from detectors.ueba.session import Session

#: fields a profile tracks: name -> function(event) -> value or None
DENIED_CODES = ("accessdenied", "unauthorized", "forbidden", "permission_denied", "authorizationerror")


def _ua_family(ua: str) -> str:
    """'aws-cli/2.15.0 Python/3.11 ...' -> 'aws-cli'; 'Mozilla/5.0 (...)' -> 'browser'."""
    ua = ua.strip()
    if not ua:
        return ""
    if ua.startswith("[") and ua.endswith("]"):
        ua = ua[1:-1]
    if ua.startswith(("Mozilla/", "Opera/")):
        return "browser"
    tok = ua.split(" ", 1)[0]
    return tok.split("/", 1)[0].lower()[:64]


@functools.lru_cache(maxsize=8192)
def network_of(ip: str) -> str:
    """The network a source address stands for: internal addresses are one place (pods and instances
    change addresses inside the VPC all the time), a public address counts by its /24 (IPv6: /48),
    an AWS service calling on the principal's behalf is 'aws-service'."""
    s = ip.strip()
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        return "aws-service" if s == "AWS Internal" or s.endswith(".amazonaws.com") else s[:64]
    if any(addr in n for n in _INTERNAL if n.version == addr.version):
        return "internal"
    net = ipaddress.ip_network(f"{s}/{24 if addr.version == 4 else 48}", strict=False)
    return str(net)


#: RFC 1918, carrier-grade NAT, loopback, link-local, unique-local (not Python's is_private, which also
#: counts the documentation ranges as private)
_INTERNAL = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                                                   "127.0.0.0/8", "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"))


def action_of(ev: Event) -> str:
    a = ev.attributes
    prov = a.get("event.provider") or ""
    res = a.get("orchestrator.resource.type")
    if res:
        sub = a.get("orchestrator.resource.subresource")
        return f"{ev.name} {res}{'/' + sub if sub else ''}"
    return f"{prov}:{ev.name}" if prov else ev.name


def resource_of(ev: Event) -> str | None:
    a = ev.attributes
    ns = a.get("orchestrator.namespace")
    if a.get("orchestrator.type") == "kubernetes":
        return f"namespace:{ns}" if ns else "cluster-scope"
    raw = a.get("audit.record") or a.get("raw")
    if isinstance(raw, dict):
        rp = raw.get("requestParameters")
        if isinstance(rp, dict):
            for k in ("bucketName", "functionName", "roleName", "userName", "secretId", "modelId", "keyId",
                      "dBInstanceIdentifier", "trailName", "name", "instanceId"):
                v = rp.get(k)
                if isinstance(v, str) and v:
                    return f"{k}:{v[:200]}"
    rn = a.get("gcp.audit.resource_name")
    if isinstance(rn, str) and rn:
        return rn[:200]
    return None


def is_error(ev: Event) -> bool:
    return ev.attributes.get("event.outcome") == "failure"


def is_denied(ev: Event) -> bool:
    a = ev.attributes
    if a.get("event.outcome") != "failure":
        return False
    code = str(a.get("error.code") or "").lower()
    status = a.get("http.response.status_code")
    return (status in (401, 403)) or code in ("7", "16") or any(d in code for d in DENIED_CODES)


def outcome_of(ev: Event) -> str:
    """'ok', or the error the call got (its code, lower-cased): a principal that never gets
    AccessDenied suddenly getting it is behaviour too."""
    a = ev.attributes
    if a.get("event.outcome") != "failure":
        return "ok"
    code = a.get("error.code") or a.get("http.response.status_code") or "failure"
    return str(code).lower()[:64]


def features(ev: Event) -> dict[str, str]:
    a = ev.attributes
    out = {"action": action_of(ev)}
    r = resource_of(ev)
    if r:
        out["resource"] = r
    ip = a.get("source.ip")
    if ip:
        out["source_ip"] = network_of(str(ip))
    out["outcome"] = outcome_of(ev)
    reg = a.get("cloud.region")
    if reg:
        out["region"] = str(reg)
    ua = a.get("user_agent.original")
    if isinstance(ua, str):
        fam = _ua_family(ua)
        if fam:
            out["user_agent"] = fam
    return out


FIELDS = ("action", "resource", "source_ip", "region", "user_agent", "outcome")


def _bump(table: dict[str, int], value: str, cap: int) -> bool:
    """Count `value`; True when the table was full and its least-seen quarter was evicted."""
    if value in table:
        table[value] += 1
        return False
    evicted = False
    if len(table) >= cap:
        # amortised O(1): drop the least-seen quarter at once (ties: oldest first)
        keep = sorted(table.items(), key=lambda kv: -kv[1])[: max(1, cap - cap // 4 - 1)]
        table.clear()
        table.update(keep)
        evicted = True
    table[value] = 1
    return evicted


@dataclass
class Rate:
    """Event-time hourly counts with an EWMA baseline of count and variance."""
    bucket: int = -1
    count: int = 0
    mean: float = 0.0
    var: float = 0.0
    n: int = 0            # completed buckets folded into the baseline

    def roll(self, bucket: int, alpha: float) -> None:
        if self.bucket < 0:
            self.bucket = bucket
            return
        if bucket <= self.bucket:
            return
        steps = min(bucket - self.bucket, 48)
        x = float(self.count)
        for _ in range(steps):
            if self.n == 0:
                self.mean, self.var = x, 0.0
            else:
                d = x - self.mean
                self.mean += alpha * d
                self.var = (1 - alpha) * (self.var + alpha * d * d)
            self.n += 1
            x = 0.0
        self.bucket, self.count = bucket, 0

    def spike(self, k: float, min_count: int, min_buckets: int) -> tuple[bool, float]:
        if self.n < min_buckets or self.count < min_count:
            return False, 0.0
        std = math.sqrt(max(self.var, 0.0))
        limit = self.mean + k * max(std, 1.0, 0.5 * self.mean)
        return self.count > limit, limit

    def to_state(self) -> list:
        return [self.bucket, self.count, self.mean, self.var, self.n]

    @classmethod
    def from_state(cls, s: list) -> "Rate":
        return cls(int(s[0]), int(s[1]), float(s[2]), float(s[3]), int(s[4]))


@dataclass
class Profile:
    first_time: float = 0.0
    last_time: float = 0.0
    events: int = 0                     # events learned
    seen: dict[str, dict[str, int]] = field(default_factory=lambda: {f: {} for f in FIELDS})
    totals: dict[str, int] = field(default_factory=dict)        # per field: the counts in `seen`, summed
    volume: Rate = field(default_factory=Rate)
    errors: Rate = field(default_factory=Rate)
    denied_times: list[float] = field(default_factory=list)
    reported: dict[str, float] = field(default_factory=dict)   # "kind|field|value" -> last report time
    burst_until: float = 0.0
    session: Session = field(default_factory=Session)
    surprise_mean: float = 0.0          # bits a learned event of this principal (group, account) usually costs
    surprise_n: int = 0

    def note_surprise(self, bits: float, alpha: float = 0.01) -> None:
        """Running mean of event surprise: exact over the first 1/alpha events, then exponential."""
        self.surprise_n += 1
        self.surprise_mean += max(alpha, 1.0 / self.surprise_n) * (bits - self.surprise_mean)

    def learn(self, feats: dict[str, str], t: float, cap: int) -> None:
        if self.events == 0:
            self.first_time = t
        self.events += 1
        self.last_time = max(self.last_time, t)
        seen, totals = self.seen, self.totals
        for f, v in feats.items():
            table = seen.get(f)
            if table is None:
                table = seen[f] = {}
            n = table.get(v)
            if n is not None:           # the common case, inline
                table[v] = n + 1
                totals[f] = totals.get(f, 0) + 1
            elif _bump(table, v, cap):
                totals[f] = sum(table.values())
            else:
                totals[f] = totals.get(f, 0) + 1

    def to_state(self) -> dict[str, Any]:
        return {"first": self.first_time, "last": self.last_time, "events": self.events, "seen": self.seen,
                "volume": self.volume.to_state(), "errors": self.errors.to_state(),
                "denied": self.denied_times, "reported": self.reported, "burst_until": self.burst_until,
                "session": self.session.to_state(), "surprise": [self.surprise_mean, self.surprise_n]}

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> "Profile":
        p = cls(first_time=float(s["first"]), last_time=float(s["last"]), events=int(s["events"]),
                seen={k: {str(v): int(c) for v, c in d.items()} for k, d in s["seen"].items()},
                volume=Rate.from_state(s["volume"]), errors=Rate.from_state(s["errors"]),
                denied_times=[float(x) for x in s.get("denied", [])],
                reported={str(k): float(v) for k, v in s.get("reported", {}).items()},
                burst_until=float(s.get("burst_until", 0.0)), session=Session.from_state(s.get("session")),
                surprise_mean=float(s.get("surprise", [0.0, 0])[0]), surprise_n=int(s.get("surprise", [0.0, 0])[1]))
        for f in FIELDS:
            p.seen.setdefault(f, {})
        p.totals = {f: sum(t.values()) for f, t in p.seen.items()}
        return p
