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
import zlib
from typing import Sequence

import numpy as np

from core import snapshot
from core.event import Event, Finding
from core.names import API_KEY_ID, CLIENT_KEYS, FEATURE_PREFIX, MODEL_NAME, MODEL_VERSION, PREDICTION, PROMPT
from core.registry import register
from detectors.base import Detector
from detectors.extraction import signals
from detectors.extraction.config import ExtractionConfig
from detectors.extraction.signals import Signal
from detectors.extraction.state import ClientState, EndpointState, client_key, text_vector


@register
class ExtractionDetector(Detector):
    type = "extraction"
    event_kinds = ("inference",)
    Config = ExtractionConfig
    state_version = 1

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self._eps: dict[str, EndpointState] = {}

    # -- vectors ----------------------------------------------------------------------------------
    def _vector(self, ep: EndpointState, ev: Event) -> np.ndarray | None:
        a = ev.attributes
        if ep.names is None:
            names = sorted(k[len(FEATURE_PREFIX):] for k, v in a.items() if k.startswith(FEATURE_PREFIX)
                           and isinstance(v, (int, float)) and not isinstance(v, bool))
            if names:
                ep.names = names
            elif isinstance(a.get(PROMPT), str):
                ep.names = []  # text endpoint
            else:
                return None
        if ep.names:
            x = np.empty(len(ep.names))
            for i, n in enumerate(ep.names):
                v = a.get(FEATURE_PREFIX + n)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                    # missing / wrong type: impute the endpoint mean (no distance contribution)
                    v = ep.mean[i] if ep.mean is not None else 0.0
                x[i] = float(v)
            return x
        p = a.get(PROMPT)
        return text_vector(p) if isinstance(p, str) and p else None

    # -- processing -------------------------------------------------------------------------------
    def process(self, events: Sequence[Event]) -> list[Finding]:
        out = []
        for ev in events:
            if not self.accepts(ev):
                continue
            out.extend(self._one(ev))
        return out

    def _client(self, ep: EndpointState, key: str) -> ClientState:
        c = ep.clients.get(key)
        if c is None:
            if len(ep.clients) >= self.config.max_clients:  # evict the least active client
                victim = min(ep.clients, key=lambda k: ep.clients[k].times[-1] if ep.clients[k].times else -1)
                del ep.clients[victim]
            c = ep.clients[key] = ClientState(self.config.history, self.config.max_distances,
                                          self.config.abuse_window)
        return c

    def _one(self, ev: Event) -> list[Finding]:
        cfg = self.config
        key = client_key(ev)
        if key is None:
            return []
        ep = self._eps.setdefault(ev.entity, EndpointState())
        self._dirty.add(ev.entity)
        a = ev.attributes
        if a.get(MODEL_NAME) is not None:
            ep.model = {"name": str(a[MODEL_NAME]), "version": a.get(MODEL_VERSION)}
        c = self._client(ep, key)
        findings: list[Finding] = []
        # abuse outcome (guard denies arrive as separate guard.decision events)
        status = a.get("http.response.status_code")
        bad = (a.get("guard.decision") == "deny" or a.get("error.type") is not None
               or (isinstance(status, (int, float)) and not isinstance(status, bool) and status >= 400))
        ak = a.get(API_KEY_ID)
        akey = str(ak) if isinstance(ak, str) and ak else key  # abuse is tracked per API key
        kc = ep.keys.get(akey)
        if kc is None:
            if len(ep.keys) >= cfg.max_clients:
                ep.keys.pop(next(iter(ep.keys)))
            kc = ep.keys[akey] = ClientState(2, 8, cfg.abuse_window)
        kc.n += 1
        kc.outcomes.append(1 if bad else 0)
        findings += self._raise(ev, ep, akey, kc, signals.abuse(cfg, kc, akey, ev.entity))
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
            pred = a.get(PREDICTION)
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
        findings += self._raise(ev, ep, key, c, signals.prada(cfg, c, key, ev.entity))
        findings += self._raise(ev, ep, key, c, signals.rate(cfg, ep, c, key, ev.entity))
        findings += self._raise(ev, ep, key, c, signals.coverage(cfg, ep, c, key, ev.entity))
        return findings

    def _raise(self, ev: Event, ep: EndpointState, key: str, c: ClientState, sig: Signal | None) -> list[Finding]:
        if sig is None:
            return []
        c.fired[sig.rule] = c.n
        evidence = dict(sig.evidence, endpoint=ev.entity, client=key, queries=c.n,
                        model=ep.model or {"name": ev.entity})
        for k in CLIENT_KEYS:
            if ev.attributes.get(k) is not None:
                evidence[k] = ev.attributes[k]
        return [Finding.create(detector=self.name, entity=key, time=ev.time, score=sig.score, threshold=sig.threshold,
                               severity=self.config.severity, title=sig.title, evidence=evidence,
                               event_ids=(ev.id,), tags=("atlas:AML.T0024", "model-extraction"), rule=sig.rule)]

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
        ents = {k: EndpointState.from_state(v, self.config) for k, v in st["entities"].items()}
        if entity is None:
            self._eps = ents
        elif entity in ents:
            self._eps[entity] = ents[entity]
        else:
            self._eps.pop(entity, None)
