"""`warden deadletters list|show|replay`: the records warden could not process, on either bus.

`list` and `show` read the dead-letter topic (Kafka: from its earliest retained offset, joining no
group; embedded: its file under `<data_dir>/bus/`). `replay` re-submits the input records of
collect-stage letters after a fix (a corrected parser: through the input formats each letter was
refused by, which it records; or another format: `--format`): on the embedded bus through
the whole pipeline in this process, as `warden replay` does; on Kafka through the collect stage
only (the events go to their topics and the running stages process them). A record refused again
is reported, not dead-lettered again. Replayed letters are marked (core/deadletters.py) and
skipped by a later replay unless `--again`.
Exit codes: 0 ok, 1 some letters were refused again, 3 unknown letter id or no such data dir.
"""
from __future__ import annotations

import sys

import click

from agent.cli.app import EXIT_FAIL, EXIT_NOT_FOUND, cli, pass_ctx
from agent.cli.output import emit_json, fmt_time, parse_since, table


def _letters(ctx):
    from pathlib import Path

    from core.deadletters import read_letters
    from agent.runtime import Runtime
    if ctx.cfg.bus.type == "embedded" and not Path(ctx.cfg.data_dir).is_dir():
        click.echo(f"error: no data dir {ctx.cfg.data_dir}: nothing has run there (check data_dir)", err=True)
        sys.exit(EXIT_NOT_FOUND)
    rt = Runtime(ctx.cfg)
    try:
        return read_letters(rt.bus, rt.topic("deadletter"), ctx.cfg.data_dir)
    finally:
        rt.bus.close()


def _pick(letters, ids):
    by_id = {d.id: d for d in letters}
    missing = [i for i in ids if i not in by_id]
    if missing:
        click.echo(f"error: no dead letter {', '.join(missing)} (see `warden deadletters list`)", err=True)
        sys.exit(EXIT_NOT_FOUND)
    return [by_id[i] for i in ids]


def _filtered(letters, stage, source, since):
    t0 = parse_since(since)
    return [d for d in letters if (not stage or d.stage == stage) and (not source or d.source == source)
            and (t0 is None or d.time >= t0)]


@cli.group()
def deadletters() -> None:
    """Records warden could not process: list, show, re-submit after a fix."""


@deadletters.command("list")
@click.option("--stage", default=None, help="Only letters of this stage (collect, detect, decide, act).")
@click.option("--source", default=None, help="Only letters of this source (component name).")
@click.option("--since", default=None, help="Only letters this recent (30m, 2h, 1d or an ISO time).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="The newest N letters.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(ctx, stage, source, since, limit, as_json) -> None:
    """List dead letters, oldest first (the newest --limit)."""
    letters = sorted(_filtered(_letters(ctx), stage, source, since), key=lambda d: d.time)[-limit:]
    if as_json:
        emit_json([{k: v for k, v in d.__dict__.items() if k != "raw"} for d in letters])
        return
    if not letters:
        click.echo("no dead letters")
        return
    table(["id", "time", "stage", "source", "replayed", "reason"],
          [[d.id, fmt_time(d.time), d.stage, d.source, "yes" if d.replayed else "", d.reason[:100]] for d in letters])


@deadletters.command("show")
@click.argument("letter_id")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(ctx, letter_id, as_json) -> None:
    """One dead letter with the record it keeps."""
    [d] = _pick(_letters(ctx), [letter_id])
    if as_json:
        emit_json(dict(d.__dict__))
        return
    for k in ("id", "stage", "source", "reason"):
        click.echo(f"{k}: {getattr(d, k)}")
    click.echo(f"time: {fmt_time(d.time)}\nreplayed: {'yes' if d.replayed else 'no'}\nraw:")
    emit_json(d.raw)


@deadletters.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every collect-stage letter not replayed yet.")
@click.option("--again", is_flag=True, help="Include letters replayed before.")
@click.option("--format", "fmt", default=None,
              help="Read the records with this input format (or auto) instead of the ones each letter was "
                   "refused by (default: the letter's own: the route's, or the replay's --format).")
@click.option("--dry-run", is_flag=True, help="Parse and report; emit nothing, mark nothing.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def replay(ctx, ids, everything, again, fmt, dry_run, as_json) -> None:
    """Re-submit the input records of dead letters (IDS, or --all) after a fix.

    Each record goes through the input formats it was refused by (the route's, e.g. /v1/inference's
    inference formats, or the replay's --format), unless --format names another. A letter that
    records no format (OTLP, an older warden) needs --format."""
    from core.deadletters import mark_replayed
    from agent.pipeline import Pipeline
    from agent.stages import STAGES
    from collectors.base import ListEmitter
    from collectors.resubmit import ResubmitCollector

    if not ids and not everything:
        raise click.UsageError("give letter ids or --all")
    if fmt not in (None, "auto"):       # a typo is a usage error, not every letter "refused" by it
        from collectors.formats import FormatError, get_format
        try:
            get_format(fmt)
        except FormatError as e:
            raise click.BadParameter(str(e), param_hint="--format") from None
    letters = _letters(ctx)
    chosen = _pick(letters, list(ids)) if ids else [d for d in letters if d.stage == "collect"]
    chosen = [d for d in chosen if again or not d.replayed or ids]
    collector = ResubmitCollector(chosen, fmt)
    if not chosen:      # nothing to do: no pipeline started in the data dir (its heartbeats stay the agent's)
        if as_json:
            emit_json([])
        else:
            click.echo("no dead letters to re-submit (collect-stage letters not replayed yet; --again for those "
                       "replayed before)", err=True)
        return
    if dry_run:
        collector.bind(ListEmitter())
        collector.run_once()
    else:
        stages = STAGES if ctx.cfg.bus.type == "embedded" else ("collect",)
        p = Pipeline(ctx.cfg, stages=stages, collectors=[collector], http=False)
        try:
            p.drain()
        finally:
            p.close()
        for r in collector.results:
            if r.accepted:
                mark_replayed(ctx.cfg.data_dir, r.id, r.outcome)
    results = collector.results
    if as_json:
        emit_json([dict(r.__dict__, outcome=r.outcome) for r in results])
    else:
        if results:
            table(["id", "outcome", "records", "events", "reason"],
                  [[r.id, r.outcome, r.accepted + r.refused, r.events, r.reason[:100]] for r in results])
        click.echo(f"{'would re-submit' if dry_run else 're-submitted'}: {sum(r.accepted for r in results)} records "
                   f"({sum(r.events for r in results)} events) from {len(results)} letters; "
                   f"{sum(1 for r in results if r.outcome != 'accepted')} not fully accepted", err=True)
    if any(r.outcome != "accepted" for r in results):
        sys.exit(EXIT_FAIL)
