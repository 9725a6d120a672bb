"""`warden drift check|stream`: offline drift reports for ML engineers."""
from __future__ import annotations

import sys

import click

from agent.cli.app import EXIT_FAIL, EXIT_USAGE, Fraction, cli
from agent.cli.output import emit_json, table

#: a false-alarm probability: --alpha 5 used to report drift on identical data
ALPHA = Fraction(0, 1, min_open=True, max_open=True)


@cli.group()
def drift() -> None:
    """Data drift between a reference dataset and current data."""


@drift.command("check")
@click.option("--reference", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--current", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--alpha", default=0.05, show_default=True, type=ALPHA, help="Significance level of the tests (0 < alpha < 1).")
@click.option("--json", "as_json", is_flag=True)
def check(reference, current, alpha, as_json) -> None:
    """Per-feature tests (KS / chi-squared, PSI, JS, Holm-corrected) and an MMD test. Exit 1 on drift."""
    from detectors.drift.cli_support import check as run
    rep = _report(run, reference, current, alpha=alpha, progress=not as_json)
    if as_json:
        emit_json(rep)
    else:
        table(["feature", "test", "statistic", "p adjusted", "psi", "drift"],
              [[n, f.get("test", ""), _g(f.get("statistic")), _g(f.get("p_adjusted")), _g(f.get("psi")),
                "DRIFT" if f.get("drift") else ""] for n, f in rep["features"].items()])
        mv = rep.get("multivariate")
        if mv:
            click.echo(f"multivariate MMD: mmd2={_g(mv.get('mmd2'))} p={_g(mv.get('p_value'))}")
        click.echo("drift: " + (", ".join(rep["drifted_features"]) or ("multivariate" if rep["drift"] else "none")))
    sys.exit(EXIT_FAIL if rep["drift"] else 0)


@drift.command("stream")
@click.option("--reference", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--stream", "stream_csv", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--window", default=500, show_default=True, type=click.IntRange(min=10), help="Rows per window test.")
@click.option("--alpha", default=0.01, show_default=True, type=ALPHA, help="False-alarm probability of the window tests over the whole stream (the rank CUSUMs add about one false alarm per 1e8 rows per feature).")
@click.option("--json", "as_json", is_flag=True)
def stream(reference, stream_csv, window, alpha, as_json) -> None:
    """Sequential detection over a stream: the rows where alarms fired and the features involved."""
    from detectors.drift.cli_support import stream as run
    rep = _report(run, reference, stream_csv, window=window, alpha=alpha, progress=not as_json)
    if as_json:
        emit_json(rep)
    else:
        table(["alarm row", "change point", "features"],
              [[a["row"], a.get("change_point", ""), ", ".join(a["features"])] for a in rep["alarms"]])
    sys.exit(EXIT_FAIL if rep["alarms"] else 0)


def _report(run, *args, **kw) -> dict:
    """run(...)'s report; an input it cannot read (not CSV or JSON lines, no rows, no common feature) is
    exit 2 with the reason: exit 1 means drift was found, and a traceback means neither."""
    try:
        return run(*args, **kw)
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_USAGE)


def _g(v) -> str:
    return "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
