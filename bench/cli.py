"""`warden bench ...`: the benchmarks of bench/ (they print their figures; never part of the tests)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from agent.cli.app import WardenGroup, cli
from agent.cli.output import emit_json
from core.progress import Bar


class BenchGroup(WardenGroup):
    """A data folder without the files a benchmark reads (the NAB layout, the prompts' dev file) is
    a usage error naming what is missing (exit 2), not a FileNotFoundError traceback."""
    usage_errors = (*WardenGroup.usage_errors, FileNotFoundError)


@cli.group(cls=BenchGroup)
def bench() -> None:
    """Run a benchmark and print its figures."""


@bench.command("nab")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="NAB folder (data/, labels/).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Where NAB-format results go.")
@click.option("--detector", default="novelty", show_default=True, help="Metric detector type.")
@click.option("--threshold", type=float, default=None, help="Also score with this fixed threshold.")
@click.option("--cross-validate", "cross", is_flag=True,
              help="Leave-one-group-out: choose options and threshold on the other groups, score each group.")
@click.option("--grid", default=None, metavar="JSON",
              help='With --cross-validate: options to choose from, {"option": [values]} (default: the detector\'s grid).')
@click.option("--objective", type=click.Choice(["pooled", "mean"]), default="pooled", show_default=True,
              help="With --cross-validate: what the training folds maximise (mean of group scores, or pooled files).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of the table.")
def nab(data, out, detector, threshold, cross, grid, objective, as_json) -> None:
    """NAB score (standard, reward_low_FP, reward_low_FN) of a metric detector, streamed causally.
    With --cross-validate, score streams are cached under OUT/streams."""
    if not cross:
        from bench.nab.runner import run, table as nab_table
        res = run(data, out, detector, threshold=threshold, progress=not as_json)
        if as_json:
            emit_json(res)
        else:
            click.echo(nab_table(res))
        return
    from pathlib import Path

    from bench.nab.crossval import cross_validate, table, to_json
    try:
        parsed = json.loads(grid) if grid else None
    except json.JSONDecodeError as e:
        raise click.BadParameter(f"not JSON: {e}", param_hint="--grid") from None
    if parsed is not None and not (isinstance(parsed, dict) and all(isinstance(v, list) for v in parsed.values())):
        raise click.BadParameter('expected {"option": [values], ...}', param_hint="--grid")
    cv = cross_validate(data, detector, parsed, cache_dir=Path(out) / "streams", objective=objective,
                        progress=not as_json)
    if as_json:
        emit_json(to_json(cv))
    else:
        click.echo(table(cv))


@bench.command("audit")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of panther_*.jsonl.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--show", default="", metavar="CELLS",
              help="Also print each case of these cells of the reported run as a JSON line: fp,fn,tp,tn.")
@click.option("--log-type", default=None, help="With --show: only this log type (e.g. GCP.AuditLog).")
def audit(data, as_json, show, log_type) -> None:
    """Precision and recall of warden's audit detections per log type."""
    from bench.audit.quality import main, parse_show, resolve, shown_cases
    try:
        cells = parse_show(show) if show else frozenset()
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--show") from None
    cases = resolve(Path(data))[0]
    if not any(cases.glob("panther_*.jsonl")):      # no case at all printed precision and recall 1.000
        raise click.BadParameter(f"no panther_*.jsonl cases in {cases}", param_hint="--data")
    with Bar("bench audit", enabled=not as_json):
        res = main(data, show=cells)
    for c in shown_cases(res, log_type) if cells else ():
        click.echo(json.dumps(c))
    if as_json:
        emit_json(res)


@bench.command("guard")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="../shared/data/prompts (dev file + extra/) or one JSON-lines file: text, label, source.")
@click.option("--leave-one-source-out", "loso", is_flag=True,
              help="Train on all sources but one, score that one, for every source; worst figures.")
@click.option("--candidates", default="guard", show_default=True, help="Comma-separated: guard, tfidf, shipped.")
@click.option("--sources", default="", help="Comma-separated held-out sources (default: all).")
@click.option("--latency", is_flag=True, help="Also measure latency (single, long inputs, batched).")
@click.option("--requests", default=1000, show_default=True, help="Requests for the single-request latency test.")
@click.option("--rate", default=50.0, show_default=True, help="Requests per second in that test.")
@click.option("--json", "as_json", is_flag=True, help="Every figure as JSON after the table.")
def guard(data, loso, candidates, sources, latency, requests, rate, as_json) -> None:
    """Prompt guard: leave-one-source-out quality, everyday prompts, latency."""
    from bench.guard.cli import render, run
    res = run(data, loso=loso, candidates=[c for c in candidates.split(",") if c],
              sources=[s for s in sources.split(",") if s], latency=latency, requests=requests, rate=rate,
              progress=not as_json)
    click.echo(render(res))
    if as_json:
        emit_json(res)
