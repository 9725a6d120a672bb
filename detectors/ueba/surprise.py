"""Calibrated rarity: how surprising an event's values are for a principal, in bits.

Each field's value gets a probability from a chain of baselines, most specific last: the whole account,
the principal's peer group, the principal itself. Each level is a Witten-Bell interpolation with the level
above it (the standard smoothing for "how likely is a value never seen at this level"):

    p_level(v) = (n_level(v) + D_level * p_above(v)) / (N_level + D_level)

with N the level's count of the field, D its number of distinct values, and for the account level
p_above = 1 / (D_account + 1) (an unseen value is one more value). So a principal that has always made
the same three calls (D = 3 in N = 900) gives a new call about 3/903 of its peers' probability, one that
makes a different call every time gives it about half; a value the principal's peers use all the time is
barely surprising for a new member; a value nobody in the account has used is the most surprising. At the
account level a seen value has probability n / (N + D) and "some value never seen" D / (N + D) (the
Witten-Bell escape probability: how often the account's stream has shown something new).
An event's surprise is the sum over its fields of -log2 p (each field capped at `field_cap` bits).
"""
from __future__ import annotations

import math
from typing import NamedTuple

from detectors.ueba.profile import Profile


class FieldSurprise(NamedTuple):
    field: str
    value: str
    bits: float
    own_count: int          # times the principal itself used the value
    account_count: int      # times anyone in the account did


def field_probability(f: str, v: str, chain: tuple[Profile, ...]) -> float:
    """Witten-Bell probability of value `v` of field `f`; `chain` runs from the account to the principal."""
    account, p = chain[0], 1.0
    for level in chain:
        n_total = level.totals.get(f, 0)
        if n_total <= 0:
            continue
        table = level.seen[f]
        d = len(table)
        n = table.get(v, 0)
        if level is account:        # the top level: a seen value by its count, any unseen value as one more
            p = (n if n else d) / (n_total + d)
        else:
            p = (n + d * p) / (n_total + d)
    return p


def event_surprise(feats: dict[str, str], chain: tuple[Profile, ...], field_cap: float) -> list[FieldSurprise]:
    """Per-field surprise of an event against `chain` (account, [peers], principal)."""
    account, own = chain[0], chain[-1]
    out = []
    for f, v in feats.items():
        p = field_probability(f, v, chain)
        bits = min(field_cap, -math.log2(p)) if p > 0 else field_cap
        own_n = own.seen[f].get(v, 0) if own is not account and f in own.seen else 0
        out.append(FieldSurprise(f, v, bits, own_n, account.seen[f].get(v, 0) if f in account.seen else 0))
    return out
