"""The `extraction` detector's state: per endpoint (the event entity), per client; and how a
query becomes a vector (numeric features, or a prompt's character trigrams)."""
from __future__ import annotations

import zlib
from collections import deque
from typing import Any

import numpy as np

from core.event import Event
from core.names import CLIENT_KEYS
from detectors.extraction.config import ExtractionConfig

TEXT_DIM = 128


def client_key(ev: Event) -> str | None:
    a = ev.attributes
    for k in CLIENT_KEYS:
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


class ClientState:
    """One client's (or API key's) recent queries and counters, for every signal."""


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
    def from_state(cls, st: dict, cfg: ExtractionConfig) -> "ClientState":
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


class EndpointState:
    """One endpoint's normal-traffic statistics (running mean / sd of the inputs) and its clients."""


    def __init__(self) -> None:
        self.names: list[str] | None = None   # numeric feature names, fixed at the first query
        self.count = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self.clients: dict[str, ClientState] = {}
        self.keys: dict[str, ClientState] = {}    # per API key (else per client): abuse outcomes
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
    def from_state(cls, st: dict, cfg: ExtractionConfig) -> "EndpointState":
        e = cls()
        e.names, e.count, e.model = st["names"], int(st["count"]), dict(st["model"])
        e.mean = None if st["mean"] is None else np.array(st["mean"], np.float64)
        e.m2 = None if st["m2"] is None else np.array(st["m2"], np.float64)
        e.clients = {k: ClientState.from_state(v, cfg) for k, v in st["clients"].items()}
        kcfg = ExtractionConfig(history=2, max_distances=8, min_queries=8, abuse_window=cfg.abuse_window)
        e.keys = {k: ClientState.from_state(v, kcfg) for k, v in st.get("keys", {}).items()}
        return e
