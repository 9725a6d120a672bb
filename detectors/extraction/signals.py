"""The `extraction` detector's four signals (PRADA, rate, coverage, abuse), each checked on one
client after its query was counted (detectors.extraction.detector describes them). A check
updates the client's `last` figures and answers the Signal to raise, or None; each (client,
signal) fires once, then re-arms after `cooldown` further queries."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats as sstats

from detectors.extraction.config import ExtractionConfig
from detectors.extraction.state import ClientState, EndpointState


@dataclass(frozen=True)
class Signal:
    rule: str                  # prada | rate | coverage | abuse
    score: float
    threshold: float
    title: str
    evidence: dict[str, Any]


def armed(cfg: ExtractionConfig, c: ClientState, rule: str) -> bool:
    at = c.fired.get(rule)
    return at is None or c.n - at >= cfg.cooldown


def prada(cfg: ExtractionConfig, c: ClientState, key: str, endpoint: str) -> Signal | None:
    if len(c.dists) < cfg.min_queries or c.n % cfg.check_every:
        return None
    d = np.sort(np.array(c.dists))
    d = d[:len(d) - int(math.ceil(cfg.prada_trim * len(d)))]  # a few isolated far queries are benign
    if np.ptp(d) <= 1e-12:
        w = 0.0  # all identical distances: maximally non-normal (replayed / grid queries)
    else:
        w = float(sstats.shapiro(d).statistic)
    c.last["prada_w"] = w
    c.low = c.low + 1 if w < cfg.prada_threshold else 0
    if c.low >= cfg.prada_confirm and armed(cfg, c, "prada"):
        return Signal("prada", 1.0 - w, 1.0 - cfg.prada_threshold,
                      f"possible model extraction by {key} on {endpoint} (PRADA W={w:.3f})",
                      {"signal": "prada", "shapiro_w": w, "threshold": cfg.prada_threshold,
                       "distances": len(d), "distance_mean": float(d.mean()),
                       "distance_std": float(d.std()),
                       "distance_quantiles": [float(q) for q in np.quantile(d, [0.05, 0.25, 0.5, 0.75, 0.95])]})
    return None


def rate(cfg: ExtractionConfig, ep: EndpointState, c: ClientState, key: str, endpoint: str) -> Signal | None:
    r = len(c.times)
    c.last["rate"] = r
    if r <= 10:  # below any limit (the relative limit is at least 10)
        return None
    rates = [len(o.times) for k, o in ep.clients.items() if k != key and o.times]
    med = float(statistics.median(rates)) if len(rates) >= 5 else None
    limit = cfg.max_rate if med is None else min(cfg.max_rate, max(cfg.rate_factor * med, 10.0))
    if r > limit and armed(cfg, c, "rate"):
        return Signal("rate", r / limit, 1.0, f"query rate of {key} on {endpoint}: {r} in {cfg.rate_window_s:g}s",
                      {"signal": "rate", "queries_in_window": r, "window_s": cfg.rate_window_s,
                       "limit": limit, "median_client_rate": med})
    return None


def coverage(cfg: ExtractionConfig, ep: EndpointState, c: ClientState, key: str, endpoint: str) -> Signal | None:
    if not ep.names or c.n < cfg.min_queries or c.n % cfg.check_every:
        return None
    if c.binned < cfg.min_queries:
        return None
    seen = c.binned
    distinct = len(c.cells) / seen
    oor = c.out_of_range / seen
    c.last.update(coverage=distinct, out_of_range=oor)
    if ((distinct > cfg.coverage_threshold and oor > cfg.out_of_range_threshold) or oor > 0.5) \
            and armed(cfg, c, "coverage"):
        return Signal("coverage", max(distinct, oor), cfg.coverage_threshold,
                      f"input-space sweep by {key} on {endpoint}",
                      {"signal": "coverage", "distinct_cell_share": distinct,
                       "out_of_range_share": oor, "features": ep.names[:8]})
    return None


def abuse(cfg: ExtractionConfig, c: ClientState, key: str, endpoint: str) -> Signal | None:
    """`key` / `c`: the API key (or client when the request names no key) and its record."""
    bad = sum(c.outcomes)
    share = bad / max(len(c.outcomes), 1)
    c.last["abuse_rate"] = share
    if bad >= cfg.abuse_min and share > cfg.abuse_rate and armed(cfg, c, "abuse"):
        return Signal("abuse", share, cfg.abuse_rate,
                      f"abusive traffic from {key} on {endpoint}: {bad} of {len(c.outcomes)} "
                      f"recent requests denied or failed",
                      {"signal": "abuse", "denied_or_failed": bad, "recent": len(c.outcomes), "share": share})
    return None
