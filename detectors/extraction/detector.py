"""Detector type `extraction`: model-extraction and abuse signals per client of an endpoint.

Clients are identified by `client.id`, else `api_key.id`, else `client.ip` (events with none of
them are not attributable and are skipped). State is kept per endpoint (the event entity, the Kafka
key), then per client. Findings are about the client (finding entity = the client key) and carry
the endpoint and model in evidence. Signals (finding `rule`):

- `prada` (Juuti et al., PRADA, 2019): for each query of a client (after its first `prada_warmup`),
  the minimum L2 distance to that client's previous `history` queries (inputs standardised by the endpoint's running mean / sd; prompts are
  hashed into a 128-dim character-trigram vector). Benign query streams give roughly normal
  distance distributions; synthetic extraction queries (perturbations of seed samples) do not.
  Once a client has `min_queries` distances, the Shapiro-Wilk statistic W of the last `max_distances`
  is computed every `check_every` queries; W < `prada_threshold` on `prada_confirm` consecutive
  checks flags (one low W on a short, clustered benign history is not enough); the largest
  `prada_trim` share of distances is left out (isolated far queries happen in benign traffic; the
  seed jumps of synthetic query series are far more frequent). Score 1 - W.
  When events carry `inference.prediction`, distances are taken to previous queries with the same
  predicted class (as PRADA does), which keeps multi-modal benign traffic near-normal.
- `rate`: queries in the last `rate_window_s` seconds above `max_rate` (absolute) or above
  `rate_factor` x the median rate of the endpoint's clients (relative, with >= 5 clients).
- `coverage`: input-space coverage - the share of distinct cells (first 8 standardised features
  binned by 0.5 sd) among a client's queries, and the share of queries outside 4 sd of the
  endpoint's traffic. Flags when, past `min_queries`, distinct-cell share > `coverage_threshold`
  and out-of-range share > `out_of_range_threshold`, or out-of-range share alone > 0.5.
- `abuse` (per API key `api_key.id`, else per client): share of the key's recent requests that were denied by the guard
  (`guard.decision` = deny) or failed (`http.response.status_code` >= 400, `error.type`), over the
  last `abuse_window` requests; flags at >= `abuse_min` such requests and share > `abuse_rate`.

Each (client, rule) fires once, then re-arms after `cooldown` further queries. Queries of a
client already flagged are not used to update the endpoint's normal-traffic statistics.
"""
from __future__ import annotations

import math
import statistics
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats as sstats

from core import snapshot
from core.event import Event, Finding
from core.registry import register
from detectors.base import Detector

SEVERITIES = ("info", "low", "medium", "high", "critical")
TEXT_DIM = 128


@dataclass
class ExtractionConfig:
    history: int = 200
    prada_warmup: int = 30
    max_distances: int = 500
    min_queries: int = 100
    check_every: int = 10
    prada_threshold: float = 0.80
    prada_confirm: int = 3
    prada_trim: float = 0.02
    rate_window_s: float = 60.0
    max_rate: int = 600
    rate_factor: float = 20.0
    coverage_threshold: float = 0.9
    out_of_range_threshold: float = 0.2
    abuse_window: int = 100
    abuse_min: int = 10
    abuse_rate: float = 0.3
    cooldown: int = 1000
    max_clients: int = 10000
    severity: str = "high"

    def validate(self) -> None:
        if self.history < 2 or self.max_distances < 8 or self.min_queries < 8:
            raise ValueError("history >= 2, max_distances >= 8 and min_queries >= 8 required")
        if self.min_queries > self.max_distances:
            raise ValueError("min_queries must be <= max_distances")
        if self.check_every < 1 or self.cooldown < 1 or self.max_clients < 1:
            raise ValueError("check_every, cooldown and max_clients must be >= 1")
        if not 0.0 < self.prada_threshold < 1.0:
            raise ValueError("prada_threshold must be in (0, 1)")
        if self.rate_window_s <= 0 or self.max_rate < 1 or self.rate_factor <= 1:
            raise ValueError("rate_window_s > 0, max_rate >= 1 and rate_factor > 1 required")
        for n in ("coverage_threshold", "out_of_range_threshold", "abuse_rate"):
            if not 0.0 < getattr(self, n) <= 1.0:
                raise ValueError(f"{n} must be in (0, 1]")
        if self.abuse_window < 1 or self.abuse_min < 1:
            raise ValueError("abuse_window and abuse_min must be >= 1")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")


def client_key(ev: Event) -> str | None:
    a = ev.attributes
    for k in ("client.id", "api_key.id", "client.ip"):
        v = a.get(k)
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v):
            return str(v)
    return None


def text_vector(text: str) -> np.ndarray:
    t = text.lower()[:4000]
    v = np.zeros(TEXT_DIM, np.float64)
    for i in range(max(len(t) - 2, 0)):
        v[zlib.crc32(t[i:i + 3].encode("utf-8", "surrogatepass")) % TEXT_DIM] += 1.0
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


class _Client:
    def __init__(self, history: int, max_d: int, abuse_window: int) -> None:
        self._H: np.ndarray | None = None              # previous query vectors (raw), ring buffer
        self._cls: list = []                           # their predicted classes (or None)
        self.filled = self.pos = 0
        self.dists: deque = deque(maxlen=max_d)        # min distances
        self.times: deque = deque()                    # recent query times (rate window)
        self.cells: set[int] = set()
        self.n = 0
        self.out_of_range = 0
        self.binned = 0                                # queries counted for coverage
        self.low = 0                                   # consecutive checks with W below threshold
        self.outcomes: deque = deque(maxlen=abuse_window)  # 1 = denied / failed
        self.fired: dict[str, int] = {}                # rule -> n at which it fired
        self.last: dict[str, float] = {}

    def matrix(self) -> np.ndarray:
        """Previous query vectors (ring buffer, unordered), shape (k, dim)."""
        return self._H[:self.filled] if self._H is not None else np.zeros((0, 0))

    def classes(self) -> list:
        return self._cls[:self.filled]

    def add(self, x: np.ndarray, cls: str | None, cap: int) -> None:
        if self._H is None or self._H.shape[1] != len(x):
            self._H = np.zeros((cap, len(x)))
            self._cls = [None] * cap
            self.filled = self.pos = 0
        self._H[self.pos] = x
        self._cls[self.pos] = cls
        self.pos = (self.pos + 1) % cap
        self.filled = min(self.filled + 1, cap)

    def to_state(self) -> dict:
        return {"hist": self.matrix().tolist(), "hcls": self.classes(), "pos": self.pos, "dists": list(self.dists),
                "times": list(self.times), "cells": sorted(self.cells), "n": self.n,
                "oor": self.out_of_range, "binned": self.binned, "low": self.low, "outcomes": list(self.outcomes), "fired": self.fired,
                "last": self.last}

    @classmethod
    def from_state(cls, st: dict, cfg: ExtractionConfig) -> "_Client":
        c = cls(cfg.history, cfg.max_distances, cfg.abuse_window)
        hist, hcls = st["hist"], st.get("hcls") or [None] * len(st["hist"])
        for h, k in zip(hist, hcls):
            c.add(np.array(h, np.float64), k, cfg.history)
        if hist:
            c.pos = int(st.get("pos", 0)) % cfg.history
        c.dists.extend(float(d) for d in st["dists"])
        c.times.extend(float(t) for t in st["times"])
        c.cells = set(int(x) for x in st["cells"])
        c.n, c.out_of_range, c.binned = int(st["n"]), int(st["oor"]), int(st["binned"])
        c.low = int(st.get("low", 0))
        c.outcomes.extend(int(o) for o in st["outcomes"])
        c.fired = {k: int(v) for k, v in st["fired"].items()}
        c.last = {k: float(v) for k, v in st["last"].items()}
        return c


class _Endpoint:
    def __init__(self) -> None:
        self.names: list[str] | None = None   # numeric feature names, fixed at the first query
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self.clients: dict[str, _Client] = {}
        self.keys: dict[str, _Client] = {}    # per API key (else per client): abuse outcomes
        self.model: dict[str, Any] = {}

    def sd(self) -> np.ndarray:
        if self.mean is None or self.count < 2:
            return np.ones(0 if self.mean is None else len(self.mean))
        sd = np.sqrt(self.m2 / (self.count - 1))
        sd[sd < 1e-9] = 1.0
        return sd

    def learn(self, x: np.ndarray) -> None:
        if self.mean is None:
            self.mean, self.m2 = np.zeros_like(x), np.zeros_like(x)
        self.count += 1
        d = x - self.mean
        self.mean += d / self.count
        self.m2 += d * (x - self.mean)

    def to_state(self) -> dict:
        return {"names": self.names, "count": self.count,
                "mean": None if self.mean is None else self.mean.tolist(),
                "m2": None if self.m2 is None else self.m2.tolist(), "model": self.model,
                "clients": {k: c.to_state() for k, c in self.clients.items()},
                "keys": {k: c.to_state() for k, c in self.keys.items()}}

    @classmethod
    def from_state(cls, st: dict, cfg: ExtractionConfig) -> "_Endpoint":
        e = cls()
        e.names, e.count, e.model = st["names"], int(st["count"]), dict(st["model"])
        e.mean = None if st["mean"] is None else np.array(st["mean"], np.float64)
        e.m2 = None if st["m2"] is None else np.array(st["m2"], np.float64)
        e.clients = {k: _Client.from_state(v, cfg) for k, v in st["clients"].items()}
        kcfg = ExtractionConfig(history=2, max_distances=8, min_queries=8, abuse_window=cfg.abuse_window)
        e.keys = {k: _Client.from_state(v, kcfg) for k, v in st.get("keys", {}).items()}
        return e


@register
class ExtractionDetector(Detector):
    type = "extraction"
    event_kinds = ("inference",)
    Config = ExtractionConfig
    state_version = 1

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self._eps: dict[str, _Endpoint] = {}

    # -- vectors ----------------------------------------------------------------------------------
    def _vector(self, ep: _Endpoint, ev: Event) -> np.ndarray | None:
        a = ev.attributes
        if ep.names is None:
            names = sorted(k[8:] for k, v in a.items() if k.startswith("feature.")
                           and isinstance(v, (int, float)) and not isinstance(v, bool))
            if names:
                ep.names = names
            elif isinstance(a.get("gen_ai.prompt"), str):
                ep.names = []  # text endpoint
            else:
                return None
        if ep.names:
            x = np.empty(len(ep.names))
            for i, n in enumerate(ep.names):
                v = a.get("feature." + n)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                    # missing / wrong type: impute the endpoint mean (no distance contribution)
                    v = ep.mean[i] if ep.mean is not None else 0.0
                x[i] = float(v)
            return x
        p = a.get("gen_ai.prompt")
        return text_vector(p) if isinstance(p, str) and p else None

    # -- processing -------------------------------------------------------------------------------
    def process(self, events: Sequence[Event]) -> list[Finding]:
        out = []
        for ev in events:
            if not self.accepts(ev):
                continue
            out.extend(self._one(ev))
        return out

    def _client(self, ep: _Endpoint, key: str) -> _Client:
        c = ep.clients.get(key)
        if c is None:
            if len(ep.clients) >= self.config.max_clients:  # evict the least active client
                victim = min(ep.clients, key=lambda k: ep.clients[k].times[-1] if ep.clients[k].times else -1)
                del ep.clients[victim]
            c = ep.clients[key] = _Client(self.config.history, self.config.max_distances,
                                          self.config.abuse_window)
        return c

    def _one(self, ev: Event) -> list[Finding]:
        cfg = self.config
        key = client_key(ev)
        if key is None:
            return []
        ep = self._eps.setdefault(ev.entity, _Endpoint())
        self._dirty.add(ev.entity)
        a = ev.attributes
        if a.get("model.name") is not None:
            ep.model = {"name": str(a["model.name"]), "version": a.get("model.version")}
        c = self._client(ep, key)
        findings: list[Finding] = []
        # abuse outcome (guard denies arrive as separate guard.decision events)
        status = a.get("http.response.status_code")
        bad = (a.get("guard.decision") == "deny" or a.get("error.type") is not None
               or (isinstance(status, (int, float)) and not isinstance(status, bool) and status >= 400))
        ak = a.get("api_key.id")
        akey = str(ak) if isinstance(ak, str) and ak else key  # abuse is tracked per API key
        kc = ep.keys.get(akey)
        if kc is None:
            if len(ep.keys) >= cfg.max_clients:
                ep.keys.pop(next(iter(ep.keys)))
            kc = ep.keys[akey] = _Client(2, 8, cfg.abuse_window)
        kc.n += 1
        kc.outcomes.append(1 if bad else 0)
        findings += self._abuse(ev, ep, akey, kc)
        if ev.name == "guard.decision":
            return findings
        c.n += 1
        c.times.append(ev.time)
        while c.times and c.times[0] < ev.time - cfg.rate_window_s:
            c.times.popleft()
        x = self._vector(ep, ev)
        if x is not None:
            text = not ep.names
            if text:
                xs = x
            else:
                sd = ep.sd()
                xs = (x - ep.mean) / sd if ep.mean is not None and len(sd) == len(x) else np.zeros_like(x)
            pred = a.get("inference.prediction")
            pred = None if pred is None or isinstance(pred, (list, dict)) else str(pred)
            if c.filled >= min(cfg.prada_warmup, cfg.history) and c.matrix().shape[1] == len(x):
                H = c.matrix()
                if pred is not None:  # PRADA: distances within the predicted class
                    H = H[np.array([hc == pred for hc in c.classes()])]
                if len(H):
                    if not text:
                        H = (H - ep.mean) / ep.sd() if ep.mean is not None else H * 0
                    c.dists.append(float(np.sqrt(((H - xs) ** 2).sum(1)).min()))
            c.add(x, pred, cfg.history)
            if not text and ep.count >= cfg.min_queries:
                if np.any(np.abs(xs) > 4.0):
                    c.out_of_range += 1
                cell = tuple(np.clip(np.floor(xs[:8] * 2), -20, 20).astype(int).tolist())
                c.binned += 1
                if len(c.cells) < 100_000:
                    c.cells.add(zlib.crc32(repr(cell).encode()))
            if not c.fired and not text:
                ep.learn(x)  # normal-traffic statistics learn only from unflagged clients
        findings += self._prada(ev, ep, key, c)
        findings += self._rate(ev, ep, key, c)
        findings += self._coverage(ev, ep, key, c)
        return findings

    def _armed(self, c: _Client, rule: str) -> bool:
        at = c.fired.get(rule)
        return at is None or c.n - at >= self.config.cooldown

    def _fire(self, ev, ep, key, c, rule, score, thr, title, evidence) -> Finding:
        c.fired[rule] = c.n
        evidence = dict(evidence, endpoint=ev.entity, client=key, queries=c.n,
                        model=ep.model or {"name": ev.entity})
        for k in ("client.id", "api_key.id", "client.ip"):
            if ev.attributes.get(k) is not None:
                evidence[k] = ev.attributes[k]
        return Finding.create(detector=self.name, entity=key, time=ev.time, score=score, threshold=thr,
                              severity=self.config.severity, title=title, evidence=evidence,
                              event_ids=(ev.id,), tags=("atlas:AML.T0024", "model-extraction"), rule=rule)

    def _prada(self, ev, ep, key, c) -> list[Finding]:
        cfg = self.config
        if len(c.dists) < cfg.min_queries or c.n % cfg.check_every:
            return []
        d = np.sort(np.array(c.dists))
        d = d[:len(d) - int(math.ceil(cfg.prada_trim * len(d)))]  # a few isolated far queries are benign
        if np.ptp(d) <= 1e-12:
            w = 0.0  # all identical distances: maximally non-normal (replayed / grid queries)
        else:
            w = float(sstats.shapiro(d).statistic)
        c.last["prada_w"] = w
        c.low = c.low + 1 if w < cfg.prada_threshold else 0
        if c.low >= cfg.prada_confirm and self._armed(c, "prada"):
            return [self._fire(ev, ep, key, c, "prada", 1.0 - w, 1.0 - cfg.prada_threshold,
                               f"possible model extraction by {key} on {ev.entity} (PRADA W={w:.3f})",
                               {"signal": "prada", "shapiro_w": w, "threshold": cfg.prada_threshold,
                                "distances": len(d), "distance_mean": float(d.mean()),
                                "distance_std": float(d.std()),
                                "distance_quantiles": [float(q) for q in np.quantile(d, [0.05, 0.25, 0.5, 0.75, 0.95])]})]
        return []

    def _rate(self, ev, ep, key, c) -> list[Finding]:
        cfg = self.config
        r = len(c.times)
        c.last["rate"] = r
        if r <= 10:  # below any limit (the relative limit is at least 10)
            return []
        rates = [len(o.times) for k, o in ep.clients.items() if k != key and o.times]
        med = float(statistics.median(rates)) if len(rates) >= 5 else None
        limit = cfg.max_rate if med is None else min(cfg.max_rate, max(cfg.rate_factor * med, 10.0))
        c.last["rate"] = r
        if r > limit and self._armed(c, "rate"):
            return [self._fire(ev, ep, key, c, "rate", r / limit, 1.0,
                               f"query rate of {key} on {ev.entity}: {r} in {cfg.rate_window_s:g}s",
                               {"signal": "rate", "queries_in_window": r, "window_s": cfg.rate_window_s,
                                "limit": limit, "median_client_rate": med})]
        return []

    def _coverage(self, ev, ep, key, c) -> list[Finding]:
        cfg = self.config
        if not ep.names or c.n < cfg.min_queries or c.n % cfg.check_every:
            return []
        if c.binned < cfg.min_queries:
            return []
        seen = c.binned
        distinct = len(c.cells) / seen
        oor = c.out_of_range / seen
        c.last.update(coverage=distinct, out_of_range=oor)
        if ((distinct > cfg.coverage_threshold and oor > cfg.out_of_range_threshold) or oor > 0.5) \
                and self._armed(c, "coverage"):
            return [self._fire(ev, ep, key, c, "coverage", max(distinct, oor), cfg.coverage_threshold,
                               f"input-space sweep by {key} on {ev.entity}",
                               {"signal": "coverage", "distinct_cell_share": distinct,
                                "out_of_range_share": oor, "features": ep.names[:8]})]
        return []

    def _abuse(self, ev, ep, key, c) -> list[Finding]:
        """`key` / `c`: the API key (or client when the request names no key) and its record."""
        cfg = self.config
        bad = sum(c.outcomes)
        share = bad / max(len(c.outcomes), 1)
        c.last["abuse_rate"] = share
        if bad >= cfg.abuse_min and share > cfg.abuse_rate and self._armed(c, "abuse"):
            return [self._fire(ev, ep, key, c, "abuse", share, cfg.abuse_rate,
                               f"abusive traffic from {key} on {ev.entity}: {bad} of {len(c.outcomes)} "
                               f"recent requests denied or failed",
                               {"signal": "abuse", "denied_or_failed": bad, "recent": len(c.outcomes),
                                "share": share})]
        return []

    # -- detector API -----------------------------------------------------------------------------
    def score_many(self, events: Sequence[Event]) -> np.ndarray:
        """1 - the client's last PRADA W (0 until enough queries): higher = more extraction-like."""
        out = []
        for ev in events:
            ep = self._eps.get(ev.entity)
            c = ep.clients.get(client_key(ev) or "") if ep else None
            out.append(1.0 - c.last["prada_w"] if c is not None and "prada_w" in c.last else 0.0)
        return np.array(out, dtype=float)

    def learn_many(self, events: Sequence[Event]) -> None:
        self.process(events)

    def entities(self):
        return list(self._eps)

    def forget(self, entity: str) -> None:
        self._eps.pop(entity, None)

    def snapshot(self, entity: str | None = None) -> bytes:
        eps = self._eps if entity is None else {k: v for k, v in self._eps.items() if k == entity}
        return snapshot.pack(self.type, self.state_version, {"entities": {k: v.to_state() for k, v in eps.items()}})

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        _, st = snapshot.unpack(blob, self.type, self.state_version)
        ents = {k: _Endpoint.from_state(v, self.config) for k, v in st["entities"].items()}
        if entity is None:
            self._eps = ents
        elif entity in ents:
            self._eps[entity] = ents[entity]
        else:
            self._eps.pop(entity, None)
