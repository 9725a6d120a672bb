"""Detector type `drift`: data, prompt and output drift of model endpoints (keyed by endpoint).

Per endpoint (the event entity) and model version (`model.version`: a release gets its own
reference instead of being reported as drift of the previous one), the first `reference_size`
events form the reference window (or
`reference_path`, a CSV / JSON-lines reference data set of feature columns, shared by all
endpoints). After that, every `step` events the last `window` events are tested against the
reference with the sequential procedure of detectors.drift.stream (KS / chi-squared per feature,
Holm across features, alpha spending over time: false-alarm probability <= `alpha` per endpoint
over the whole stream). An alarm is a finding whose evidence carries the report: drifting
features with statistics, p-values, adjusted p-values, PSI and Jensen-Shannon effect sizes, a
multivariate MMD test over the numeric features (`mmd`), the estimated change point (event index,
time and id) and the model identity (`model.name`, `model.version`) so a policy can trigger
retraining.

Columns: `feature.<name>` attributes (all, or only `features`); with `outputs`, model outputs
(`output:prediction`, `output:probability`, `output:output_tokens`, `output:finish_reasons`,
`output:completion_length`) and `prompt:length`; with `text`, the prompt embedding
(all-MiniLM-L6-v2) projected on the reference's top `text_components` principal components
(`text.pc0`...). Missing values and values of the wrong type count as missing; a feature missing
from the current window entirely is reported (`status: missing`) rather than tested.

Numeric features also feed a rank CUSUM each (detectors.drift.cusum; ``cusum_arl`` rows between
false alarms per feature on average): location and spread shifts alarm within ~100-200 rows.

Config: reference_size 1000, reference_path "", window 500, step 50, alpha 0.002, cusum_arl 1e8,
correction "holm" (holm | bh | bonferroni), min_samples 30, features [] (all), exclude (calendar
features: hour, day_of_week, ...), outputs true,
text false, text_components 8, mmd true, mmd_permutations 200, mmd_max_samples 2000,
device "auto", severity "medium".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from core import snapshot
from core.component import FilePath
from core.event import Event, Finding
from core.names import FEATURE_PREFIX, MODEL_NAME, MODEL_VERSION, PROMPT, PROMPT_LENGTH
from core.registry import register
from detectors.base import Detector
from detectors.drift import stats as S
from detectors.drift.endpoint import Endpoint, scalar, version_of
from detectors.drift.stream import SequentialDrift
from detectors.drift.text import output_columns

SEVERITIES = ("info", "low", "medium", "high", "critical")
CALENDAR_FEATURES = ("hour", "hour_of_day", "minute", "day_of_week", "weekday", "day_of_month", "month",
                     "timestamp")


@dataclass
class DriftConfig:
    reference_size: int = 1000
    reference_path: FilePath = ""
    window: int = 500
    step: int = 50
    alpha: float = 0.002          # window KS / chi-squared tests: false-alarm probability over the stream
    cusum_arl: float = 1e8        # rank CUSUM per numeric feature: rows between false alarms (0 = off)
    correction: str = "holm"
    min_samples: int = 30
    features: list[str] = field(default_factory=list)
    # calendar features follow the clock, not the data: a reference learnt from the first records
    # covers only part of their cycle, so they would always drift
    exclude: list[str] = field(default_factory=lambda: list(CALENDAR_FEATURES))
    outputs: bool = True
    text: bool = False
    text_components: int = 8
    mmd: bool = True
    mmd_permutations: int = 200
    mmd_max_samples: int = 2000
    device: str = "auto"
    severity: str = "medium"

    def validate(self) -> None:
        if self.reference_size < 20:
            raise ValueError("reference_size must be >= 20")
        if self.window < 10:
            raise ValueError("window must be >= 10")
        if not 1 <= self.step <= self.window:
            raise ValueError("step must be in [1, window]")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError("alpha must be in (0, 1)")
        if self.cusum_arl < 0:
            raise ValueError("cusum_arl must be >= 0 (0 = off)")
        if self.correction not in ("holm", "bh", "bonferroni"):
            raise ValueError("correction must be holm, bh or bonferroni")
        if self.min_samples < 5:
            raise ValueError("min_samples must be >= 5")
        if not 1 <= self.text_components <= 64:
            raise ValueError("text_components must be in [1, 64]")
        if self.mmd_permutations < 0 or self.mmd_max_samples < 10:
            raise ValueError("mmd_permutations must be >= 0 and mmd_max_samples >= 10")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")


@register
class DriftDetector(Detector):
    type = "drift"
    event_kinds = ("inference",)
    Config = DriftConfig
    state_version = 2             # 1: one reference per endpoint; 2: per endpoint and model version

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self._eps: dict[tuple[str, str], Endpoint] = {}    # (endpoint, model version) -> state
        self._current: dict[str, str] = {}                 # endpoint -> the version seen last
        self._reference_cols: dict[str, list] | None = None
        if self.config.reference_path:
            from detectors.drift.data import read_columns
            self._reference_cols = read_columns(self.config.reference_path)

    def accepts(self, event: Event) -> bool:
        # inline guard decisions are not model traffic (they would count as rows of missing values)
        return event.kind in self.event_kinds and event.name != "guard.decision"

    # -- rows -------------------------------------------------------------------------------------
    def row_of(self, ev: Event) -> dict[str, Any]:
        a = ev.attributes
        want, skip = set(self.config.features), set(self.config.exclude)
        row = {}
        for k, v in a.items():
            if k.startswith(FEATURE_PREFIX):
                name = k[len(FEATURE_PREFIX):]
                if (not want or name in want) and name not in skip:
                    row[name] = scalar(v)
        if self.config.outputs:
            for k, v in output_columns(a).items():
                row[k] = scalar(v)
            row["prompt:length"] = scalar(a.get(PROMPT_LENGTH))
        return row

    def _prompt(self, ev: Event) -> str | None:
        p = ev.attributes.get(PROMPT)
        return p[:2000] if isinstance(p, str) and p.strip() else None

    # -- warm-up ----------------------------------------------------------------------------------
    def _key(self, ev: Event) -> tuple[str, str]:
        return ev.entity, version_of(ev)

    def is_warm(self, event: Event) -> bool:
        ep = self._eps.get(self._key(event))
        return ep is not None and ep.seq is not None

    def _start_monitoring(self, ep: Endpoint) -> None:
        c = self.config
        if self._reference_cols is not None:
            ref = {k: v for k, v in self._reference_cols.items() if not c.features or k in c.features}
        else:
            keys: dict[str, None] = {}
            for r in ep.ref_rows:
                for k in r:
                    keys.setdefault(k, None)
            ref = {k: [r.get(k) for r in ep.ref_rows] for k in keys}
        if c.text and len(ep.ref_texts) >= 20:
            from detectors.drift.text import Projector, embed
            E = embed(ep.ref_texts)
            ep.projector = Projector.fit(E, c.text_components)
            P = ep.projector.transform(E)
            for j in range(P.shape[1]):
                ref[f"text.pc{j}"] = P[:, j].tolist()
        ref = {k: v for k, v in ref.items() if S.column_type(v) != "empty"}
        if not ref:
            ep.ref_rows, ep.ref_texts = [], []  # nothing to monitor yet: collect a new reference
            return
        ep.seq = SequentialDrift(ref, window=c.window, step=c.step, alpha=c.alpha, correction=c.correction,
                                 min_samples=c.min_samples, cusum_arl=c.cusum_arl)
        ep.ref_texts = []
        ep.ref_rows = []  # the reference now lives in ep.seq

    # -- processing -------------------------------------------------------------------------------
    def _ep(self, key: tuple[str, str]) -> Endpoint:
        ep = self._eps.get(key)
        if ep is None:
            ep = self._eps[key] = Endpoint()
            if self._reference_cols is not None:
                self._start_monitoring(ep)
        return ep

    def process(self, events: Sequence[Event]) -> list[Finding]:
        c = self.config
        evs = [e for e in events if self.accepts(e)]
        pcs: dict[int, np.ndarray] = {}
        if c.text:  # embed the prompts of monitored endpoints in one batch
            todo = [(i, p) for i, e in enumerate(evs)
                    if (p := self._prompt(e)) is not None and (ep := self._eps.get(self._key(e))) is not None
                    and ep.projector is not None]
            if todo:
                from detectors.drift.text import embed
                E = embed([p for _, p in todo])
                for (i, _), ee in zip(todo, E):
                    pcs[i] = ee
        findings = []
        for i, ev in enumerate(evs):
            key = self._key(ev)
            ep = self._ep(key)
            self._current[ev.entity] = key[1]
            ep.n += 1
            a = ev.attributes
            if a.get(MODEL_NAME) is not None:
                ep.model = {"name": str(a[MODEL_NAME]),
                            "version": None if a.get(MODEL_VERSION) is None else str(a[MODEL_VERSION])}
            row = self.row_of(ev)
            self._dirty.add(ev.entity)
            if ep.seq is None:
                ep.ref_rows.append(row)
                if c.text and (p := self._prompt(ev)) is not None:
                    ep.ref_texts.append(p)
                if len(ep.ref_rows) >= c.reference_size:
                    self._start_monitoring(ep)
                continue
            if ep.projector is not None:
                if i in pcs:
                    proj = ep.projector.transform(pcs[i][None, :])[0]
                    for j, v in enumerate(proj):
                        row[f"text.pc{j}"] = float(v)
                elif c.text and (p := self._prompt(ev)) is not None:  # projector made in this batch
                    from detectors.drift.text import embed
                    proj = ep.projector.transform(embed([p]))[0]
                    for j, v in enumerate(proj):
                        row[f"text.pc{j}"] = float(v)
            alarm = ep.seq.update(row, meta={"time": ev.time, "id": ev.id})
            last = ep.seq.last.get("min_p_adjusted")
            if last is not None:
                ep.last_score = -math.log10(max(last, 1e-300))
            if alarm is not None:
                findings.append(self._finding(ev, ep, alarm))
        return findings

    def _window_cols(self, ep: Endpoint) -> dict[str, list]:
        rows = [r for _, r, _ in list(ep.seq.buf)[-self.config.window:]]
        return {k: [r.get(k) for r in rows] for k in ep.seq.reference}

    def report(self, entity: str) -> dict[str, Any]:
        """Full report of the current window of `entity` against its reference (all features)."""
        ep = self._eps.get((entity, self._current.get(entity, "")))
        if ep is None or ep.seq is None:
            return {"status": "warming up", "entity": entity}
        cur = self._window_cols(ep)
        rep = S.feature_report(ep.seq.reference, cur, alpha=self.config.alpha,
                               correction=self.config.correction, min_samples=self.config.min_samples)
        if self.config.mmd:
            rep["multivariate"] = self._mmd(ep.seq.reference, cur)
        rep["model"] = ep.model
        return rep

    def _mmd(self, ref: dict[str, list], cur: dict[str, list]) -> dict | None:
        c = self.config
        num = [k for k in ref if S.column_type(ref[k]) == "numeric" and S.column_type(cur.get(k, [])) == "numeric"]
        if len(num) < 2 or c.mmd_permutations == 0:
            return None

        def mat(cols):
            n = len(next(iter(cols.values())))
            X = np.array([[cols[k][i] if S.is_number(cols[k][i]) else np.nan for k in num] for i in range(n)], float)
            return X[np.isfinite(X).all(1)]

        X, Y = mat(ref), mat(cur)
        if len(X) < 10 or len(Y) < 10:
            return None
        rng = np.random.default_rng(0)
        if len(X) > c.mmd_max_samples:
            X = X[rng.choice(len(X), c.mmd_max_samples, replace=False)]
        if len(Y) > c.mmd_max_samples:
            Y = Y[rng.choice(len(Y), c.mmd_max_samples, replace=False)]
        from detectors.drift.mmd import mmd_test
        try:
            r = mmd_test(X, Y, permutations=c.mmd_permutations, device=c.device)
        except (ValueError, RuntimeError) as e:
            return {"error": str(e)}
        r["features_used"] = num
        return r

    def _finding(self, ev: Event, ep: Endpoint, alarm: dict) -> Finding:
        c = self.config
        ep.findings += 1
        cur = self._window_cols(ep)
        full = S.feature_report(ep.seq.reference, cur, alpha=c.alpha, correction=c.correction,
                                min_samples=c.min_samples)
        feats = {}
        for name in alarm["features"]:
            e = dict(full["features"].get(name, {}))
            e.update({"sequential_" + k: v for k, v in alarm["results"][name].items() if k != "top_shifts"})
            feats[name] = e
        pmin = min(alarm["results"][n]["p_adjusted"] for n in alarm["features"])
        score = -math.log10(max(pmin, 1e-300))
        thr = -math.log10(alarm["level"])
        cp_meta = alarm.get("change_point_meta") or {}
        evidence = {
            "model": ep.model or {"name": ev.entity, "version": None},
            "endpoint": ev.entity,
            "features": feats,
            "drifting_features": alarm["drifting"],
            "all_features": {k: {kk: v[kk] for kk in ("status", "statistic", "p_value", "p_adjusted", "psi", "js",
                                                      "drift", "missing_rate_current") if kk in v}
                             for k, v in full["features"].items()},
            "change_point": {"index": alarm["change_point"], "time": cp_meta.get("time"),
                             "event_id": cp_meta.get("id")},
            "detected_at_index": alarm["row"],
            "sequential_test": {"index": alarm["test_index"], "level": alarm["level"], "alpha": c.alpha,
                                "correction": c.correction, "window": c.window, "step": c.step},
        }
        if c.mmd:
            evidence["multivariate"] = self._mmd(ep.seq.reference, cur)
        if any(k.startswith("text.") for k in alarm["features"]):
            evidence["text_drift"] = {"embedding_model": "all-MiniLM-L6-v2",
                                      "components": [k for k in alarm["features"] if k.startswith("text.")]}
        name = ep.model.get("name", ev.entity)
        ver = ep.model.get("version")
        return Finding.create(detector=self.name, entity=ev.entity, time=ev.time, score=score, threshold=thr,
                              severity=c.severity,
                              title=f"drift on {ev.entity} (model {name}{' v' + ver if ver else ''}): "
                                    + ", ".join(alarm["features"][:5]),
                              evidence=evidence, event_ids=(ev.id,), tags=("drift", "model-monitoring"),
                              rule="drift")

    # -- detector API -----------------------------------------------------------------------------
    def score_many(self, events: Sequence[Event]) -> np.ndarray:
        """Causal score per event: -log10 of the endpoint's last adjusted p-value (0 while warming)."""
        return np.array([ep.last_score if (ep := self._eps.get(self._key(e))) is not None else 0.0 for e in events])

    def learn_many(self, events: Sequence[Event]) -> None:
        self.process(events)

    def threshold_for(self, event: Event) -> float:
        ep = self._eps.get(self._key(event))
        k = (ep.seq.k if ep and ep.seq else 0) + 1
        from detectors.drift.stream import spend
        return -math.log10(spend(self.config.alpha, k))

    def entities(self):
        return sorted({k[0] for k in self._eps})

    def forget(self, entity: str) -> None:
        for k in [k for k in self._eps if k[0] == entity]:
            del self._eps[k]
        self._current.pop(entity, None)

    def snapshot(self, entity: str | None = None) -> bytes:
        st: dict[str, dict] = {}
        for (ent, ver), ep in self._eps.items():
            if entity is None or ent == entity:
                st.setdefault(ent, {"current": self._current.get(ent, ""), "versions": {}})["versions"][ver] = ep.to_state()
        return snapshot.pack(self.type, self.state_version, {"entities": st})

    def restore(self, blob: bytes, entity: str | None = None) -> None:
        ver, st = snapshot.unpack(blob, self.type, (1, self.state_version))
        ents: dict[str, dict] = {}
        for ent, v in st["entities"].items():
            if ver == 1:     # one reference per endpoint: it belongs to the version it last saw
                mv = (v.get("model") or {}).get("version")
                v = {"current": "" if mv is None else str(mv), "versions": {"" if mv is None else str(mv): v}}
            ents[ent] = v
        for ent in ([entity] if entity is not None else list({k[0] for k in self._eps} | set(ents))):
            self.forget(ent)
            if ent in ents:
                self._current[ent] = ents[ent]["current"]
                for vv, est in ents[ent]["versions"].items():
                    self._eps[(ent, vv)] = Endpoint.from_state(est)
