"""Alertmanager-style label matchers: `name=value`, `name!=value`, `name=~regex`, `name!~regex`.

Regexes are anchored (fully match), as in Alertmanager. A label that is absent matches as "".
Accepted forms:
  - a string: `severity=~"high|critical"` (quotes optional)
  - a mapping in YAML: {alertname: gpu-memory-leak, severity: "=~high|critical"}
  - a list of either
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import ConfigError

_MATCHER = re.compile(r'^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')
OPS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ConfigError(f"matcher {self.name}: unknown operator {self.op!r}")
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as e:
                raise ConfigError(f"matcher {self.name}{self.op}{self.value!r}: invalid regex: {e}") from None

    def matches(self, labels: dict[str, str]) -> bool:
        v = str(labels.get(self.name, ""))
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = re.fullmatch(self.value, v) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}


def parse_matcher(s: str) -> Matcher:
    m = _MATCHER.match(s)
    if not m:
        raise ConfigError(f"invalid matcher {s!r} (expected name=value, name!=value, name=~regex or name!~regex)")
    name, op, value = m.groups()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return Matcher(name, op, value)


def parse_matchers(raw: Any, where: str = "matchers") -> tuple[Matcher, ...]:
    """Matchers from a string, a list of strings / dicts, or a {label: value-or-op-value} mapping.
    Errors name `where`."""
    if isinstance(raw, (list, tuple)):
        out: list[Matcher] = []
        for i, item in enumerate(raw):
            out.extend(parse_matchers(item, f"{where}[{i}]"))
        return tuple(out)
    try:
        return _parse_matchers(raw, where)
    except ConfigError as e:
        if str(e).startswith(where):
            raise
        raise ConfigError(f"{where}: {e}") from None


def _parse_matchers(raw: Any, where: str) -> tuple[Matcher, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        items = [p for p in _split(raw) if p.strip()]
        return tuple(parse_matcher(p) for p in items)
    if isinstance(raw, dict):
        if set(raw) == {"name", "op", "value"}:
            return (Matcher(str(raw["name"]), str(raw["op"]), str(raw["value"])),)
        out = []
        for k, v in raw.items():
            v = str(v)
            for op in ("=~", "!~", "!="):
                if v.startswith(op):
                    out.append(Matcher(str(k), op, v[len(op):].strip()))
                    break
            else:
                out.append(Matcher(str(k), "=", v[1:] if v.startswith("=") else v))
        return tuple(out)
    raise ConfigError(f"{where}: matchers must be a string, a list or a mapping")


def _split(s: str) -> list[str]:
    """Split `a="x,y", b=~z` on commas outside quotes; braces are optional ({a="x"})."""
    s = s.strip()
    if s.startswith("{") and s.endswith("}"):
        s = s[1:-1]
    parts, cur, quote = [], "", ""
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch == ",":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def matches_all(matchers: tuple[Matcher, ...] | list[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
