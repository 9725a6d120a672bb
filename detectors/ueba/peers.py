"""Peer groups: which principals are "of the same kind", so a new principal has a baseline from its first event.

A principal's peer group comes from its identity, not from its behaviour (a behaviour-based group
would learn an intruder's habits as its own): the sessions of one AWS role share the role, IAM users
are compared with IAM users, Kubernetes service accounts with the service accounts of their namespace,
nodes with nodes, people with people, GCP service accounts with service accounts. Each group keeps a
`Profile` learned from every unflagged event of its members, and the set of its members (capped).
"""
from __future__ import annotations

from typing import Any

from core.event import Event
from detectors.ueba.profile import Profile

MAX_MEMBERS = 1024


def _issuer_role(ev: Event) -> str | None:
    rec = ev.attributes.get("audit.record") or ev.attributes.get("raw")
    if not isinstance(rec, dict):
        return None
    ui = rec.get("userIdentity")
    if not isinstance(ui, dict):
        return None
    sc = ui.get("sessionContext")
    issuer = sc.get("sessionIssuer") if isinstance(sc, dict) else None
    arn = issuer.get("arn") if isinstance(issuer, dict) else None
    if isinstance(arn, str) and arn:
        return arn
    arn = ui.get("arn")
    if isinstance(arn, str) and ":assumed-role/" in arn:        # arn:aws:sts::A:assumed-role/ROLE/SESSION
        return arn.rsplit("/", 1)[0]
    return None


def peer_group(ev: Event) -> str:
    """The group of principals `ev.entity` is compared with while it has no baseline of its own."""
    a = ev.attributes
    who = ev.entity or ""
    aws_type = a.get("aws.cloudtrail.user_identity.type")
    if aws_type:
        if aws_type == "AssumedRole":
            role = _issuer_role(ev)
            return f"aws:role:{role}" if role else "aws:AssumedRole"
        return f"aws:{aws_type}"
    if a.get("orchestrator.type") == "kubernetes" or a.get("audit.logsource") == "kubernetes/audit":
        if who.startswith("system:serviceaccount:"):
            ns = who.split(":")[2] if who.count(":") >= 3 else ""
            return f"k8s:serviceaccount:{ns}"
        if who.startswith("system:node:"):
            return "k8s:node"
        if who.startswith("system:"):
            return "k8s:system"
        return "k8s:user"
    if who.endswith(".gserviceaccount.com"):
        return "gcp:serviceaccount"
    provider = a.get("cloud.provider") or a.get("audit.logsource") or "audit"
    return f"{provider}:user"


class PeerGroups:
    """Group profiles and members; plain data for snapshots."""

    def __init__(self) -> None:
        self.groups: dict[str, Profile] = {}
        self.members: dict[str, dict[str, int]] = {}

    def get(self, group: str) -> Profile | None:
        return self.groups.get(group)

    def size(self, group: str) -> int:
        return len(self.members.get(group, ()))

    def learn(self, group: str, entity: str, feats: dict[str, str], t: float, cap: int) -> None:
        p = self.groups.get(group)
        if p is None:
            p = self.groups[group] = Profile()
        p.learn(feats, t, cap)
        m = self.members.setdefault(group, {})
        if entity in m or len(m) < MAX_MEMBERS:
            m[entity] = m.get(entity, 0) + 1

    def to_state(self) -> dict[str, Any]:
        return {"groups": {g: p.to_state() for g, p in self.groups.items()}, "members": self.members}

    @classmethod
    def from_state(cls, s: dict[str, Any] | None) -> "PeerGroups":
        out = cls()
        if s:
            out.groups = {str(g): Profile.from_state(p) for g, p in s.get("groups", {}).items()}
            out.members = {str(g): {str(e): int(n) for e, n in m.items()} for g, m in s.get("members", {}).items()}
        return out
