"""Per-feature drift statistics: two-sample tests, effect sizes, multiple-testing correction.

Numeric features: Kolmogorov-Smirnov (primary, asymptotic p-value) and Cramér-von Mises (scipy).
Categorical features: chi-squared test of homogeneity on the category counts.
Effect sizes for both: PSI (population stability index; numeric: 10 bins at reference quantiles)
and Jensen-Shannon distance (base 2, in [0, 1]) on the same bins.
Correction across features: Holm (family-wise error) or Benjamini-Hochberg (false discovery rate).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np
from scipy import special, stats

EPS = 1e-4
MISSING = "__missing__"


# -- typing of columns -------------------------------------------------------------------------

def is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def column_type(values: Iterable[Any]) -> str:
    """'numeric' when every present value is a finite-or-nan number, else 'categorical'."""
    seen = False
    for v in values:
        if v is None:
            continue
        seen = True
        if not is_number(v):
            return "categorical"
    return "numeric" if seen else "empty"


def numeric_array(values: Iterable[Any]) -> np.ndarray:
    """Present, finite numeric values as float64 (None / NaN / inf / non-numbers dropped)."""
    out = np.array([float(v) for v in values if is_number(v)], dtype=np.float64)
    return out[np.isfinite(out)]


def missing_rate(values: Sequence[Any]) -> float:
    if len(values) == 0:
        return 1.0
    return sum(1 for v in values if v is None or (is_number(v) and not math.isfinite(float(v)))) / len(values)


# -- tests -------------------------------------------------------------------------------------

def ks_2samp(ref_sorted: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic and asymptotic p-value; `ref_sorted` must be sorted."""
    n, m = len(ref_sorted), len(cur)
    if n == 0 or m == 0:
        return 0.0, 1.0
    cur_sorted = np.sort(cur)
    allv = np.concatenate([ref_sorted, cur_sorted])
    cdf1 = np.searchsorted(ref_sorted, allv, side="right") / n
    cdf2 = np.searchsorted(cur_sorted, allv, side="right") / m
    d = float(np.max(np.abs(cdf1 - cdf2)))
    en = n * m / (n + m)
    p = float(special.kolmogorov(math.sqrt(en) * d)) if d > 0 else 1.0
    return d, min(max(p, 0.0), 1.0)


def cvm_2samp(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    if len(ref) < 2 or len(cur) < 2:
        return 0.0, 1.0
    r = stats.cramervonmises_2samp(ref, cur, method="asymptotic")
    return float(r.statistic), float(min(max(r.pvalue, 0.0), 1.0))


def _bins(ref: np.ndarray, n_bins: int = 10) -> np.ndarray:
    qs = np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.unique(qs)


def _hist(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(edges, x, side="right")
    return np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)


def psi(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    p = p_counts / max(p_counts.sum(), 1.0)
    q = q_counts / max(q_counts.sum(), 1.0)
    p, q = np.clip(p, EPS, None), np.clip(q, EPS, None)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    p = p_counts / max(p_counts.sum(), 1.0)
    q = q_counts / max(q_counts.sum(), 1.0)
    m = 0.5 * (p + q)

    def kl(a, b):
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / b[nz])))

    return float(math.sqrt(max(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0)))


def numeric_test(ref: np.ndarray, cur: np.ndarray, *, ref_sorted: np.ndarray | None = None,
                 cvm: bool = True) -> dict[str, Any]:
    rs = np.sort(ref) if ref_sorted is None else ref_sorted
    d, p = ks_2samp(rs, cur)
    out: dict[str, Any] = {"type": "numeric", "test": "ks", "statistic": d, "p_value": p,
                           "n_reference": int(len(ref)), "n_current": int(len(cur))}
    if len(ref) and len(cur):
        edges = _bins(rs)
        hr, hc = _hist(rs, edges), _hist(cur, edges)
        out["psi"] = psi(hr, hc)
        out["js"] = js_distance(hr, hc)
        out["mean_reference"] = float(np.mean(ref))
        out["mean_current"] = float(np.mean(cur))
        out["std_reference"] = float(np.std(ref))
        out["std_current"] = float(np.std(cur))
    if cvm:
        s, pc = cvm_2samp(ref, cur)
        out["cvm_statistic"], out["cvm_p_value"] = s, pc
    return out


def categorical_test(ref: Sequence[Any], cur: Sequence[Any], max_categories: int = 50) -> dict[str, Any]:
    rk = [MISSING if v is None else str(v) for v in ref]
    ck = [MISSING if v is None else str(v) for v in cur]
    cats: dict[str, int] = {}
    for k in rk:
        cats[k] = cats.get(k, 0) + 1
    top = [k for k, _ in sorted(cats.items(), key=lambda kv: -kv[1])[:max_categories]]
    index = {k: i for i, k in enumerate(top)}
    other = len(top)
    rc = np.zeros(other + 1)
    cc = np.zeros(other + 1)
    for k in rk:
        rc[index.get(k, other)] += 1
    for k in ck:
        cc[index.get(k, other)] += 1
    keep = (rc + cc) > 0
    rc, cc = rc[keep], cc[keep]
    out: dict[str, Any] = {"type": "categorical", "test": "chi2", "n_reference": len(rk), "n_current": len(ck)}
    if len(rc) < 2 or rc.sum() == 0 or cc.sum() == 0:
        out.update(statistic=0.0, p_value=1.0, dof=0)
    else:
        chi2, p, dof, _ = stats.chi2_contingency(np.vstack([rc, cc]), correction=False)
        out.update(statistic=float(chi2), p_value=float(p), dof=int(dof))
    out["psi"] = psi(rc, cc) if rc.sum() and cc.sum() else 0.0
    out["js"] = js_distance(rc, cc) if rc.sum() and cc.sum() else 0.0
    labels = [k for k, kk in zip(top + ["__other__"], keep) if kk]
    pr, pc = rc / max(rc.sum(), 1), cc / max(cc.sum(), 1)
    shifts = sorted(zip(labels, pr, pc), key=lambda t: -abs(t[2] - t[1]))[:5]
    out["top_shifts"] = [{"category": k, "reference": float(a), "current": float(b)} for k, a, b in shifts]
    return out


# -- multiple testing --------------------------------------------------------------------------

def holm(pvals: Sequence[float]) -> np.ndarray:
    p = np.asarray(pvals, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def benjamini_hochberg(pvals: Sequence[float]) -> np.ndarray:
    p = np.asarray(pvals, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    adj = np.empty(m)
    prev = 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        prev = min(prev, p[i] * m / (rank + 1))
        adj[i] = min(prev, 1.0)
    return adj


def correct(pvals: Sequence[float], method: str = "holm") -> np.ndarray:
    if method == "holm":
        return holm(pvals)
    if method in ("bh", "fdr_bh", "benjamini-hochberg"):
        return benjamini_hochberg(pvals)
    if method == "bonferroni":
        return np.minimum(np.asarray(pvals, float) * max(len(pvals), 1), 1.0)
    if method == "none":
        return np.asarray(pvals, float)
    raise ValueError(f"unknown correction {method!r} (holm, bh, bonferroni, none)")


# -- one report over many features --------------------------------------------------------------

def feature_report(reference: dict[str, Sequence[Any]], current: dict[str, Sequence[Any]], *,
                   alpha: float = 0.05, correction: str = "holm", min_samples: int = 20,
                   cvm: bool = True) -> dict[str, Any]:
    """Test every feature of `reference` against `current`; corrected p-values decide drift.

    A feature absent (or with fewer than `min_samples` present values) on one side is reported
    with `status` "insufficient" or "missing" and not tested.
    """
    feats: dict[str, dict] = {}
    tested: list[str] = []
    for name in sorted(set(reference) | set(current)):
        r = list(reference.get(name, []))
        c = list(current.get(name, []))
        entry: dict[str, Any] = {"missing_rate_reference": missing_rate(r), "missing_rate_current": missing_rate(c)}
        if name not in current or all(v is None for v in c):
            entry.update(status="missing", drift=name in reference)
            feats[name] = entry
            continue
        if name not in reference:
            entry.update(status="new", drift=False)
            feats[name] = entry
            continue
        typ = column_type(r)
        if typ == "numeric" and column_type(c) == "categorical":
            wrong = sum(1 for v in c if v is not None and not is_number(v))
            share = wrong / max(len(c), 1)
            entry.update(type="numeric", status="type_changed", wrong_type_rate_current=share,
                         examples=[str(v)[:40] for v in c if v is not None and not is_number(v)][:3])
            ca = numeric_array(c)
            if len(ca) >= min_samples:
                entry.update(numeric_test(numeric_array(r), ca, cvm=cvm))
                entry["status"] = "type_changed"
            # non-numeric values where numbers were: a pipeline / schema break, reported as drift
            entry["drift"] = share > 0.01
            feats[name] = entry
            continue
        if typ == "numeric":
            ra, ca = numeric_array(r), numeric_array(c)
            if len(ra) < min_samples or len(ca) < min_samples:
                entry.update(status="insufficient", drift=False, n_reference=len(ra), n_current=len(ca))
                feats[name] = entry
                continue
            entry.update(numeric_test(ra, ca, cvm=cvm))
        elif typ == "categorical":
            if len(r) < min_samples or len(c) < min_samples:
                entry.update(status="insufficient", drift=False, n_reference=len(r), n_current=len(c))
                feats[name] = entry
                continue
            entry.update(categorical_test(r, c))
        else:
            entry.update(status="missing", drift=False)
            feats[name] = entry
            continue
        entry["status"] = "tested"
        feats[name] = entry
        tested.append(name)
    adj = correct([feats[n]["p_value"] for n in tested], correction)
    for n, pa in zip(tested, adj):
        feats[n]["p_adjusted"] = float(pa)
        feats[n]["drift"] = bool(pa < alpha)
    drifted = [n for n, e in feats.items() if e.get("drift")]
    return {"drift": bool(drifted), "alpha": alpha, "correction": correction,
            "drifted_features": drifted, "features": feats, "n_tested": len(tested)}
