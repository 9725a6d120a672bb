"""`warden bench ...`: the benchmarks of bench/ (they print their figures; never part of the tests)."""
from __future__ import annotations

import json

import click

from agent.cli.app import cli
from agent.cli.output import emit_json


@cli.group()
def bench() -> None:
    """Run a benchmark and print its figures."""


@bench.command("nab")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="NAB folder (data/, labels/).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Where NAB-format results go.")
@click.option("--detector", default="novelty", show_default=True, help="Metric detector type.")
@click.option("--threshold", type=float, default=None, help="Also score with this fixed threshold.")
def nab(data, out, detector, threshold) -> None:
    """NAB score (standard, reward_low_FP, reward_low_FN) of a metric detector, streamed causally."""
    from bench.nab import main
    main(data, out, detector, threshold=threshold)


@bench.command("audit")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False), help="Folder of panther_*.jsonl.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--show", default="", metavar="CELLS",
              help="Also print each case of these cells of the reported run as a JSON line: fp,fn,tp,tn.")
@click.option("--log-type", default=None, help="With --show: only this log type (e.g. GCP.AuditLog).")
def audit(data, as_json, show, log_type) -> None:
    """Precision and recall of warden's audit detections per log type."""
    from bench.audit.quality import main, parse_show, shown_cases
    try:
        cells = parse_show(show) if show else frozenset()
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--show") from None
    res = main(data, show=cells)
    for c in shown_cases(res, log_type) if cells else ():
        click.echo(json.dumps(c))
    if as_json:
        emit_json(res)


@bench.command("guard")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False), help="JSON lines: text, label, source.")
@click.option("--holdout-source", default=None, help="Also train without this source and score it (out-of-source).")
@click.option("--requests", default=1000, show_default=True, help="Requests for the latency test (0: skip).")
@click.option("--rate", default=50.0, show_default=True, help="Requests per second in the latency test.")
@click.option("--limit", type=int, default=None, help="Score at most this many evaluation rows.")
def guard(data, holdout_source, requests, rate, limit) -> None:
    """Prompt guard: balanced accuracy, per-class accuracy, latency percentiles."""
    from bench.guard import main
    emit_json(main(data, holdout_source=holdout_source, requests=requests, rate=rate, limit=limit))
