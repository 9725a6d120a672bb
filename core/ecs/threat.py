"""ECS `threat.*` fields from a rule's ATT&CK / ATLAS tags.

Accepted tags (Sigma's convention and warden's): `attack.t1078`, `attack.t1078.004`,
`attack.persistence` (a tactic by its short name), `attack.ta0003`; `atlas.aml.t0051`,
`atlas:AML.T0024`, `atlas.aml.ta0005`. Names come from the table in core/ecs/mitre.yaml; a
technique missing there keeps its id and reference, and its id as name; a tactic without an id
(ATT&CK v18's new ones, until their ids are in the table) stays only in `tags`. Sub-techniques go to
`threat.technique.subtechnique.*` and bring their parent technique along. One document holds one
framework in ECS; an alert tagged with both gives `threat.framework` as a list, ATT&CK first.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_TAG = re.compile(r"^(attack|atlas)[.:](.+)$", re.IGNORECASE)
_ATTACK_TECH = re.compile(r"^t(\d{4})(?:\.(\d{3}))?$", re.IGNORECASE)
_ATTACK_TACTIC_ID = re.compile(r"^ta(\d{4})$", re.IGNORECASE)
_ATLAS_TECH = re.compile(r"^aml\.t(\d{4})(?:\.(\d{3}))?$", re.IGNORECASE)
_ATLAS_TACTIC_ID = re.compile(r"^aml\.ta(\d{4})$", re.IGNORECASE)

REFERENCE = {"attack": ("https://attack.mitre.org/tactics/{}/", "https://attack.mitre.org/techniques/{}/"),
             "atlas": ("https://atlas.mitre.org/tactics/{}", "https://atlas.mitre.org/techniques/{}")}


@functools.cache
def table() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).with_name("mitre.yaml")).read_text())


@dataclass
class Ref:
    id: str | None
    name: str | None
    reference: str | None


@dataclass
class FrameworkHits:
    tactics: list[Ref] = field(default_factory=list)
    techniques: list[Ref] = field(default_factory=list)
    subtechniques: list[Ref] = field(default_factory=list)

    def add(self, bucket: list[Ref], ref: Ref) -> None:
        if all((r.id, r.name) != (ref.id, ref.name) for r in bucket):
            bucket.append(ref)

    def empty(self) -> bool:
        return not (self.tactics or self.techniques or self.subtechniques)


def _tactic(fw: str, key: str) -> Ref | None:
    t = table()[fw]["tactics"]
    if key in t:
        tid, name = t[key]
    else:
        m = (_ATTACK_TACTIC_ID if fw == "attack" else _ATLAS_TACTIC_ID).match(key)
        if not m:
            return None
        tid = ("TA" if fw == "attack" else "AML.TA") + m.group(1)
        name = next((n for i, n in t.values() if i == tid), None)
    return Ref(tid, name, REFERENCE[fw][0].format(tid) if tid else None)


def _technique(fw: str, tid: str) -> Ref:
    name = table()[fw]["techniques"].get(tid)
    path = tid.replace(".", "/") if fw == "attack" else tid
    return Ref(tid, name, REFERENCE[fw][1].format(path))


def parse_tags(tags) -> dict[str, FrameworkHits]:
    """Framework key (attack | atlas) → the tactics, techniques and sub-techniques the tags name."""
    out: dict[str, FrameworkHits] = {}
    for tag in tags or ():
        m = _TAG.match(str(tag).strip())
        if not m:
            continue
        fw, rest = m.group(1).lower(), m.group(2).lower().replace("_", "-")
        hits = out.setdefault(fw, FrameworkHits())
        tech = (_ATTACK_TECH if fw == "attack" else _ATLAS_TECH).match(rest)
        if tech:
            base = ("T" if fw == "attack" else "AML.T") + tech.group(1)
            hits.add(hits.techniques, _technique(fw, base))
            if tech.group(2):
                hits.add(hits.subtechniques, _technique(fw, f"{base}.{tech.group(2)}"))
            continue
        tactic = _tactic(fw, rest)
        if tactic is not None:
            hits.add(hits.tactics, tactic)
    return {fw: h for fw, h in out.items() if not h.empty()}


def _columns(refs: list[Ref]) -> dict[str, list[str]]:
    """ECS's parallel arrays (the i-th id, name and reference describe one entry): entries without an
    id are left out (their tag stays in `tags`); a technique missing from the table is named by its id."""
    refs = [r for r in refs if r.id]
    if not refs:
        return {}
    return {"id": [r.id for r in refs], "name": [r.name or r.id for r in refs],
            "reference": [r.reference or "" for r in refs]}


def threat_fields(tags) -> dict[str, Any]:
    """The ECS `threat` object for a document ({} when no ATT&CK / ATLAS tag)."""
    hits = parse_tags(tags)
    if not hits:
        return {}
    order = [fw for fw in ("attack", "atlas") if fw in hits]
    names = [table()[fw]["framework"] for fw in order]
    merged = FrameworkHits()
    for fw in order:
        for bucket in ("tactics", "techniques", "subtechniques"):
            for r in getattr(hits[fw], bucket):
                merged.add(getattr(merged, bucket), r)
    out: dict[str, Any] = {"framework": names[0] if len(names) == 1 else names}
    if merged.tactics:
        out["tactic"] = _columns(merged.tactics)
    technique = _columns(merged.techniques)
    if merged.subtechniques:
        technique["subtechnique"] = _columns(merged.subtechniques)
    if technique:
        out["technique"] = technique
    return out
