"""Sequential drift detection over a stream, with a bounded false-alarm probability.

Every `step` rows, the last `window` rows are tested against the reference, feature by feature
(KS for numeric, chi-squared for categorical). The k-th test (k = 1, 2, ...) is run at level

    alpha_k = alpha * 6 / (pi^2 k^2)        (sum over all k = alpha)

with Holm's correction across features inside each test. By the union bound the probability of
any false alarm over the whole, unbounded stream is at most `alpha` while there is no drift
(overlapping windows make tests dependent; the bound does not need independence).

On an alarm, the change point is estimated from the retained history (`history` rows): the start
index tau maximising sqrt(n_tau) * KS(reference, x[tau:t]) for the most significant feature (for a
single change this peaks at the change). A feature that alarmed stays "drifting" and does not
alarm again; a new alarm needs a newly drifting feature (`reset_drifting()` re-arms them).

Alongside, every numeric feature feeds a rank CUSUM (detectors.drift.cusum, `cusum_arl` rows
between false alarms per feature on average; 0 = off): a location or spread shift is caught
within a few hundred rows of its start (the window test needs the window to fill with drifted rows
first), and the CUSUM's reset point estimates the change. Its false alarms are a rate (one per
`cusum_arl` rows per feature), not a probability over the whole stream.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any, Iterable, Sequence

import numpy as np

from detectors.drift import stats as S
from detectors.drift.cusum import RankCusum, siegmund_arl


def spend(alpha: float, k: int) -> float:
    return alpha * 6.0 / (math.pi ** 2 * k * k)


class SequentialDrift:
    state_version = 2

    def __init__(self, reference: dict[str, Sequence[Any]], *, window: int = 500, step: int = 50,
                 alpha: float = 0.05, correction: str = "holm", min_samples: int = 30,
                 history: int | None = None, max_reference: int = 20000, cusum_arl: float = 1e8) -> None:
        if window < 10 or step < 1 or not 0 < alpha < 1:
            raise ValueError("need window >= 10, step >= 1 and 0 < alpha < 1")
        self.window, self.step, self.alpha = int(window), int(step), float(alpha)
        self.correction = correction
        self.min_samples = int(min_samples)
        self.history = int(history or 3 * window)
        self.reference: dict[str, list] = {}
        self.types: dict[str, str] = {}
        self._sorted: dict[str, np.ndarray] = {}
        for name, vals in reference.items():
            vals = list(vals)[-max_reference:]
            typ = S.column_type(vals)
            if typ == "empty":
                continue
            self.reference[name] = vals
            self.types[name] = typ
            if typ == "numeric":
                self._sorted[name] = np.sort(S.numeric_array(vals))
        if not self.reference:
            raise ValueError("reference has no usable feature")
        if cusum_arl < 0:
            raise ValueError("cusum_arl must be >= 0 (0 = off)")
        self.cusum_arl = float(cusum_arl)
        self.cusums = ({n: RankCusum(v, self.cusum_arl) for n, v in self._sorted.items() if len(v) >= 2}
                       if self.cusum_arl > 0 else {})
        self.buf: deque = deque(maxlen=self.history)   # (row index, {feature: value}, meta)
        self.t = -1          # index of the last row seen
        self.k = 0           # tests run (alpha-spending index)
        self.since_reset = 0  # rows since the window was last cleared
        self.drifting: set[str] = set()
        self.last: dict[str, Any] = {}

    # -- streaming --------------------------------------------------------------------------------
    def update(self, row: dict[str, Any], meta: Any = None) -> dict | None:
        """Add one row (feature -> value; absent / None = missing). `meta` (JSON-able, e.g. the
        event time and id) is kept with the row and returned for the change point."""
        self.t += 1
        self.buf.append((self.t, {f: row.get(f) for f in self.reference}, meta))
        self.since_reset += 1
        fast = self._cusum(row) if self.cusums else None
        if self.since_reset >= self.window and (self.t + 1) % self.step == 0:
            return self._check() or fast
        return fast

    def _cusum(self, row: dict[str, Any]) -> dict | None:
        hits = {}
        for name, c in self.cusums.items():
            v = row.get(name)
            if S.is_number(v) and math.isfinite(float(v)):
                r = c.update(float(v), self.t)
                if r is not None and name not in self.drifting:
                    hits[name] = r
        if not hits:
            return None
        self.drifting.update(hits)
        for r in hits.values():   # the no-drift rate of a CUSUM value this high, per row
            r["p_value"] = r["p_adjusted"] = 1.0 / siegmund_arl(r["statistic"], self.cusums[next(iter(hits))].k)
            r["n"] = self.t - r["change_point"] + 1
        lead = max(hits, key=lambda n: hits[n]["statistic"] / hits[n]["h"])
        cp = hits[lead]["change_point"]
        cp_meta = next((m for i, _, m in self.buf if i == cp), None)
        return {"row": self.t, "change_point": cp, "change_point_meta": cp_meta, "features": sorted(hits),
                "drifting": sorted(self.drifting), "test_index": self.k, "level": 1.0 / (4.0 * self.cusum_arl),
                "results": {n: hits[n] for n in sorted(hits)}, "window": [cp, self.t]}

    def update_many(self, rows: Iterable[dict[str, Any]]) -> list[dict]:
        out = []
        for r in rows:
            a = self.update(r)
            if a is not None:
                out.append(a)
        return out

    def _column(self, name: str, rows) -> list:
        return [r[name] for _, r, _ in rows]

    def _test(self, name: str, cur: list) -> dict | None:
        if self.types[name] == "numeric":
            ca = S.numeric_array(cur)
            if len(ca) < self.min_samples:
                return None
            d, p = S.ks_2samp(self._sorted[name], ca)
            return {"test": "ks", "statistic": d, "p_value": p, "n": int(len(ca))}
        present = [v for v in cur if v is not None]
        if len(present) < self.min_samples:
            return None
        r = S.categorical_test(self.reference[name], cur)
        return {"test": "chi2", "statistic": r["statistic"], "p_value": r["p_value"], "n": len(cur),
                "top_shifts": r.get("top_shifts")}

    def _check(self) -> dict | None:
        rows = list(self.buf)[-self.window:]
        self.k += 1
        level = spend(self.alpha, self.k)
        res = {}
        for name in self.reference:
            r = self._test(name, self._column(name, rows))
            if r is not None:
                res[name] = r
        if not res:
            return None
        names = list(res)
        adj = S.correct([res[n]["p_value"] for n in names], self.correction)
        for n, a in zip(names, adj):
            res[n]["p_adjusted"] = float(a)
        hits = [n for n, a in zip(names, adj) if a <= level]
        self.last = {"row": self.t, "test": self.k, "level": level,
                     "min_p_adjusted": float(min(adj)) if len(adj) else 1.0}
        new = [n for n in hits if n not in self.drifting]
        if not new:
            return None
        self.drifting.update(new)
        lead = min(new, key=lambda n: res[n]["p_adjusted"])
        cp = self._change_point(lead)
        cp_meta = next((m for i, _, m in self.buf if i == cp), None)
        return {"row": self.t, "change_point": cp, "change_point_meta": cp_meta, "features": sorted(new),
                "drifting": sorted(self.drifting), "test_index": self.k, "level": level,
                "results": {n: res[n] for n in sorted(new)},
                "window": [rows[0][0], rows[-1][0]]}

    def _change_point(self, name: str) -> int:
        rows = list(self.buf)
        if self.types[name] != "numeric":
            return rows[-self.window][0] if len(rows) >= self.window else rows[0][0]
        ref = self._sorted[name]
        vals = [(i, r[name]) for i, r, _ in rows if S.is_number(r[name]) and math.isfinite(float(r[name]))]
        if len(vals) < self.min_samples:
            return rows[0][0]
        idx = np.array([i for i, _ in vals])
        x = np.array([float(v) for _, v in vals])
        best, best_tau = -1.0, int(idx[0])
        stride = max(1, len(x) // 200)
        for j in range(0, len(x) - self.min_samples + 1, stride):
            d, _ = S.ks_2samp(ref, x[j:])
            sc = d * math.sqrt(len(x) - j)
            if sc > best:
                best, best_tau = sc, int(idx[j])
        return best_tau

    def reset_drifting(self) -> None:
        self.drifting.clear()

    # -- state ------------------------------------------------------------------------------------
    def to_state(self) -> dict:
        return {"v": self.state_version, "window": self.window, "step": self.step, "alpha": self.alpha,
                "correction": self.correction, "min_samples": self.min_samples, "history": self.history,
                "reference": self.reference, "buf": [[i, r, m] for i, r, m in self.buf], "t": self.t, "k": self.k,
                "since_reset": self.since_reset, "drifting": sorted(self.drifting), "cusum_arl": self.cusum_arl,
                "cusums": {n: c.to_state() for n, c in self.cusums.items()}}

    @classmethod
    def from_state(cls, st: dict) -> "SequentialDrift":
        if st.get("v") not in (1, cls.state_version):
            raise ValueError(f"sequential drift state version {st.get('v')!r} not supported")
        obj = cls(st["reference"], window=st["window"], step=st["step"], alpha=st["alpha"],
                  correction=st["correction"], min_samples=st["min_samples"], history=st["history"],
                  cusum_arl=st.get("cusum_arl", 0.0))   # version 1: no CUSUMs
        for n, c in st.get("cusums", {}).items():
            if n in obj.cusums:
                obj.cusums[n].load_state(c)
        obj.buf.extend((int(i), dict(r), m) for i, r, m in st["buf"])
        obj.t, obj.k, obj.since_reset = int(st["t"]), int(st["k"]), int(st["since_reset"])
        obj.drifting = set(st["drifting"])
        return obj
