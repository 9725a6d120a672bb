"""`warden bench guard` / `python -m bench.guard`: leave-one-source-out table, everyday prompts,
latency. Prints the figures (and, with --json, every number as JSON)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

EVERYDAY = Path(__file__).resolve().parents[2] / "tests" / "unit" / "detectors" / "guard" / "everyday_prompts.jsonl"


def everyday(guard) -> dict[str, Any]:
    rows = [json.loads(x) for x in EVERYDAY.read_text(encoding="utf-8").splitlines() if x.strip()]
    scored = guard.score_many([r["text"] for r in rows])
    denied = [r["text"] for r, (s, _) in zip(rows, scored) if s is None or s >= guard.threshold]
    return {"prompts": len(rows), "languages": sorted({r["lang"] for r in rows}),
            "tnr": round(1 - len(denied) / len(rows), 4), "denied": denied}


def run(data: str, *, loso: bool = False, candidates: Sequence[str] = ("guard",), sources: Sequence[str] = (),
        exclude: Sequence[str] = (),
        latency: bool = False, requests: int = 1000, rate: float = 50.0, threads: int = 1,
        model: str | None = None, progress: bool = True, label_conflicts: bool = False,
        conflict_cosine: float | None = 0.9, conflict_jaccard: float | None = None) -> dict[str, Any]:
    from bench.guard import candidates as cands, loso as loso_mod
    from detectors.guard.data import load_sources
    from detectors.guard.guard import PromptGuard
    out: dict[str, Any] = {}
    rows = load_sources(data)
    if exclude:
        unknown = set(exclude) - {r.source for r in rows}
        if unknown:
            raise ValueError(f"--exclude: no such source {sorted(unknown)}")
        rows = [r for r in rows if r.source not in set(exclude)]
        out["excluded_sources"] = sorted(exclude)
    if loso:
        reports = [loso_mod.run(rows, c, getattr(cands, "fit_" + c), sources=list(sources) or None,
                               progress=progress)
                   for c in candidates]
        out["leave_one_source_out"] = [r.as_dict() for r in reports]
        out["table"] = loso_mod.table(reports)
    if label_conflicts:
        out.update(conflicts(rows, conflict_cosine, conflict_jaccard))
    guard = PromptGuard(model)
    out["model_version"] = guard.model_version
    out["everyday"] = everyday(guard)
    if latency:
        import torch
        from bench.guard import latency as lat
        if threads:
            torch.set_num_threads(threads)
        short = [r.text for r in rows if len(r.text) <= 2000]
        docs = [r.text for r in rows if r.label == 0 and len(r.text) > 1000][:200]
        attacks = [r.text for r in rows if r.label == 1 and len(r.text) > 1000][:200]
        out["latency"] = {"single": lat.single(guard, short, requests, rate),
                          "long": lat.long_inputs(guard, docs), "long_attack": lat.long_inputs(guard, attacks),
                          "batched": lat.batched(guard, short),
                          "torch_threads": threads}
    return out


def conflicts(rows, cosine: float | None, jaccard: float | None) -> dict[str, Any]:
    """bench/guard/conflicts.py (MiniLM cosine on the bench's bfloat16 embeddings of every row)."""
    from dataclasses import asdict

    from bench.guard import candidates as cands, conflicts as conf
    from detectors.guard.normalize import clean
    E = None
    if cosine is not None:
        store, enc, _ = cands._stored()
        E = store.embed(enc, [clean(r.text) for r in rows], progress=False)
    res = conf.by_source(rows, E, cosine, jaccard)
    return {"label_conflicts": {"criteria": conf.criteria(cosine, jaccard),
                                "sources": [dict(asdict(r), ceiling=r.ceiling) for r in res]},
            "conflicts_table": conf.table(res, cosine, jaccard)}


def render(res: dict[str, Any]) -> str:
    lines = []
    for key in ("table", "conflicts_table"):
        if key in res:
            lines += [res[key], ""]
    if res.get("excluded_sources"):
        lines.append(f"excluded from training and evaluation: {', '.join(res['excluded_sources'])}")
    e = res["everyday"]
    lines.append(f"everyday prompts ({e['prompts']}, {len(e['languages'])} languages): TNR {e['tnr']:.3f}"
                 + (f"; denied: {e['denied'][:5]}" if e["denied"] else ""))
    if "latency" in res:
        s = res["latency"]["single"]["latency_ms"]
        lines.append(f"single requests at {res['latency']['single']['rate_per_s']:.0f}/s: p50 {s['p50']} ms, "
                     f"p90 {s['p90']} ms, p99 {s['p99']} ms, max {s['max']} ms")
        for kind, name in (("long", "benign documents"), ("long_attack", "attack rows")):
            for b in res["latency"].get(kind, {}).get("by_size", []):
                lines.append(f"long input ({name}) {b['chars']} chars / {b['tokens']} tokens: {b['ms_median']} ms "
                             f"({b['ms_per_1000_tokens']} ms per 1,000 tokens)")
        b = res["latency"]["batched"]
        lines.append(f"batched ({b['batch']} a call): {b['prompts_per_s']} prompts/s")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.guard")
    ap.add_argument("data", help="../shared/data/prompts (the dev file and extra/) or one JSON-lines file")
    ap.add_argument("--leave-one-source-out", action="store_true")
    ap.add_argument("--candidates", default="guard", help="comma-separated: text (the shipped trainer: model 4), text4 (the same), text5 (model 5: model 4 + skeleton stage), text6 (model 6: model 4 with the top MiniLM layers fine-tuned), text7 (model 7: model 6 keeping model 4's frozen head, the two heads averaged), guard (model 3), text_dro (model 4, group-DRO sentence head), skeleton (the skeleton stage alone), lexical (model 4's lexical stage), tfidf, shipped")
    ap.add_argument("--sources", default="", help="comma-separated held-out sources (default: all)")
    ap.add_argument("--exclude", default="", help="comma-separated sources left out of training and evaluation "
                    "(e.g. one whose labels contradict the others')")
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for the latency figures "
                    "(0: torch's default, one per core)")
    ap.add_argument("--model", default=None, help="guard artifact for the everyday and latency figures "
                    "(default: the shipped model 4; e.g. a model 3 artifact)")
    ap.add_argument("--label-conflicts", action="store_true",
                    help="per source, the fraction of its rows whose near-duplicates in the other sources carry "
                    "the opposite label (bench/guard/conflicts.py)")
    ap.add_argument("--conflict-cosine", type=float, default=0.9,
                    help="MiniLM cosine at or above which two rows are near-duplicates (negative: not used)")
    ap.add_argument("--conflict-jaccard", type=float, default=-1.0,
                    help="word 5-gram Jaccard at or above which two rows are near-duplicates (negative: not used)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    res = run(a.data, loso=a.leave_one_source_out, candidates=[c for c in a.candidates.split(",") if c],
              sources=[s for s in a.sources.split(",") if s],
              exclude=[s for s in a.exclude.split(",") if s], latency=a.latency, requests=a.requests, rate=a.rate,
              threads=a.threads, model=a.model, label_conflicts=a.label_conflicts,
              conflict_cosine=a.conflict_cosine if a.conflict_cosine >= 0 else None,
              conflict_jaccard=a.conflict_jaccard if a.conflict_jaccard >= 0 else None)
    print(render(res))
    if a.json:
        print(json.dumps(res, indent=2, default=lambda o: float(o) if isinstance(o, np.floating) else str(o)))
    return 0
