"""Risk-based alerting: findings below the alerting level add risk to their principal instead of alerting.

The Sigma specification defines what a rule's level means: `informational` is for enrichment ("no case
or alerting should be triggered"), `low` is "a notable event but rarely an incident ... relevant in high
numbers or combination with others", `medium` and above should be looked at. Splunk's risk-based
alerting and Elastic's building-block rules act on it the same way, and so does warden:

```yaml
risk:                               # file-level section of a policy file (at most one over all files)
  detectors: ["sigma/*"]            # whose findings it applies to (component names, glob)
  alert_min_level: medium           # a finding below this level opens no alert on its own
  risk_min_level: low               # below this (informational): context only, never counted
  window: 24h                       # a principal's risk is what it gathered in this much event time
  distinct: 2                       # an alert opens once a principal has this many different rules
```

A finding of those detectors below `alert_min_level` is a *building block*. If its principal already
has an open alert it would fold into (its own policy's, or one its correlation rule joins), it folds in
as usual (context, no new notification). Otherwise it is held in the principal's risk ledger (counted
`decide.risk_held`); once the ledger holds `distinct` different rules at `risk_min_level` or above
within `window`, every held finding of the principal is released, in time order, and goes through the
policies as any finding does (one alert through the attacker-session correlation; `decide.risk_alerts`).
When an alert opens for a principal some other way (a `medium` rule, a UEBA session), its held findings
that fold into it join it (`decide.risk_attached`): the alert shows what the principal did before.
A ledger keeps at most MAX_HELD findings per principal (the oldest go first, counted `risk_dropped`).
Levels are warden's severities (`info`, `low`, `medium`, `high`, `critical`); Sigma's `informational` is
`info`. Without a `risk:` section every finding may alert on its own (warden's built-in policies have one).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

from core import codec
from core.durations import parse_duration
from core.errors import ConfigError
from core.event import SEVERITIES, SEVERITY_RANK, Finding
from policy.sections import known_mapping

MAX_HELD = 32               # findings held per principal
Match = Callable[[Finding], list]               # the policies a finding matches
Folds = Callable[[Finding, list], bool]         # would it fold into an open alert under those policies
KEYS = ("detectors", "alert_min_level", "risk_min_level", "window", "distinct")
_LEVEL_ALIASES = {"informational": "info"}


@dataclass(frozen=True)
class RiskRule:
    detectors: tuple[str, ...] = ("sigma/*",)
    alert_min_level: str = "medium"
    risk_min_level: str = "low"
    window: float = 86400.0
    distinct: int = 2

    def building_block(self, f: Finding) -> bool:
        """The finding opens no alert on its own (its detector is covered and its level is below)."""
        return (SEVERITY_RANK.get(f.severity, 0) < SEVERITY_RANK[self.alert_min_level]
                and any(fnmatch.fnmatchcase(f.detector, d) for d in self.detectors))

    def counts(self, f: Finding) -> bool:
        """The finding adds risk (else it is context only)."""
        return SEVERITY_RANK.get(f.severity, 0) >= SEVERITY_RANK[self.risk_min_level]

    def label(self) -> str:
        return f"alert_min_level={self.alert_min_level} distinct={self.distinct} window={self.window / 3600:g}h"


def _level(v: Any, where: str) -> str:
    s = _LEVEL_ALIASES.get(str(v).lower(), str(v).lower())
    if s not in SEVERITIES:
        raise ConfigError(f"{where}: level must be one of {', '.join(SEVERITIES)} (or informational), got {v!r}")
    return s


def parse_risk(raw: Any, where: str) -> RiskRule | None:
    """The `risk:` section of a policy file (None when absent); errors name `where`."""
    if raw is None:
        return None
    known_mapping(raw, KEYS, where)
    d = RiskRule()
    dets = raw.get("detectors", list(d.detectors))
    if isinstance(dets, str):
        dets = [dets]
    if not isinstance(dets, list) or not dets or not all(isinstance(x, str) and x for x in dets):
        raise ConfigError(f"{where}.detectors: a non-empty list of component names (glob)")
    distinct = raw.get("distinct", d.distinct)
    if not isinstance(distinct, int) or isinstance(distinct, bool) or distinct < 1:
        raise ConfigError(f"{where}.distinct: a whole number >= 1, got {distinct!r}")
    window = parse_duration(raw.get("window", d.window), f"{where}.window")
    if window <= 0:
        raise ConfigError(f"{where}.window must be a positive duration")
    alert = _level(raw.get("alert_min_level", d.alert_min_level), f"{where}.alert_min_level")
    risk = _level(raw.get("risk_min_level", d.risk_min_level), f"{where}.risk_min_level")
    if SEVERITY_RANK[risk] > SEVERITY_RANK[alert]:
        raise ConfigError(f"{where}: risk_min_level ({risk}) is above alert_min_level ({alert})")
    return RiskRule(tuple(dets), alert, risk, window, distinct)


@dataclass
class RiskLedger:
    """Building-block findings held per principal (entity) until its risk reaches the rule's threshold."""
    rule: RiskRule
    held: dict[str, list[Finding]] = field(default_factory=dict)
    dropped: int = 0
    touched: set[str] = field(default_factory=set)      # principals whose ledger changed (to persist)

    def gate(self, f: Finding, matched: list, folds: Folds, match: Match) -> tuple[list[tuple[Finding, list]], str]:
        """What to put through the policies for a finding, in order, and what happened: "" (any finding
        but a building block that would open an alert: itself), "held" (nothing), "alerts" (it brought
        its principal's risk to the threshold: every held finding of the principal)."""
        if not self.rule.building_block(f) or folds(f, matched):
            return [(f, matched)], ""
        released = self.hold(f)
        if not released:
            return [], "held"
        return [(g, match(g)) for g in released], "alerts"

    def attach(self, entity: str, folds: Folds, match: Match) -> list[tuple[Finding, list]]:
        """The principal's held findings that now fold into an open alert (taken out of the ledger)."""
        held = self.held.get(entity)
        if not held:
            return []
        out, keep = [], []
        for g in held:
            ps = match(g)
            if folds(g, ps):
                out.append((g, ps))
            else:
                keep.append(g)
        if out:
            self.touched.add(entity)
            if keep:
                self.held[entity] = keep
            else:
                del self.held[entity]
        return out

    def hold(self, f: Finding) -> list[Finding]:
        """Hold a building block: [] while the principal's risk stays under the threshold; else every
        finding held for it (this one included), in time order, and its ledger emptied."""
        r = self.rule
        mine = [g for g in self.held.get(f.entity, ()) if g.time > f.time - r.window and g.id != f.id]
        mine.append(f)
        mine.sort(key=lambda g: (g.time, g.id))
        self.touched.add(f.entity)
        if len({g.rule for g in mine if r.counts(g)}) >= r.distinct:
            self.held.pop(f.entity, None)
            return mine
        if len(mine) > MAX_HELD:
            self.dropped += len(mine) - MAX_HELD
            mine = mine[-MAX_HELD:]
        self.held[f.entity] = mine
        return []

    def expire(self, watermark: float) -> None:
        """Forget what is older than the window behind the event-time watermark."""
        horizon = watermark - self.rule.window
        for entity in [e for e, fs in self.held.items() if fs[-1].time <= horizon]:
            del self.held[entity]
            self.touched.add(entity)

    def take_touched(self) -> dict[str, bytes]:
        """The changed principals' ledgers as state blobs (b"" for an emptied one), and forget the changes."""
        out = {e: codec.dumps([codec.to_dict(g) for g in self.held[e]]) if e in self.held else b""
               for e in self.touched}
        self.touched = set()
        return out

    def restore(self, entity: str, blob: bytes) -> None:
        """Read one principal's ledger back (a state blob of take_touched); raises codec.DecodeError."""
        items = codec.loads(blob)
        if not isinstance(items, list):
            raise codec.DecodeError("risk ledger: expected a list of findings")
        fs = [codec.from_dict(d, "finding") for d in items]
        if fs:
            self.held[entity] = fs
