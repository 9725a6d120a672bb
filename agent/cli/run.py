"""`warden run`, `warden replay`, `warden demo`."""
from __future__ import annotations

import shlex
import signal
import time

import click

from agent.cli.app import EXIT_FAIL, cli, pass_ctx
from agent.cli.output import emit_json, fmt_time, table
from agent.cli.progress import pipeline_progress
from agent.config import DEFAULT_DETECTORS
from agent.stages import STAGES


@cli.command()
@click.option("--stage", "stages", multiple=True, type=click.Choice(STAGES),
              help="Run only these stages (repeatable); default all. One stage per process scales out.")
@click.option("--json", "as_json", is_flag=True, help="Print the start line as JSON on stdout.")
@pass_ctx
def run(ctx, stages, as_json) -> None:
    """Run the pipeline until SIGINT/SIGTERM."""
    from agent.pipeline import Pipeline

    p = Pipeline(ctx.cfg, stages=tuple(dict.fromkeys(stages)) or STAGES)    # --stage detect twice: one stage
    signal.signal(signal.SIGTERM, lambda *_: p.stop())
    try:
        p.preflight()           # unusable TLS files or store file: one error line (exit 2) before "warden running"
    except BaseException:
        p.close()
        raise
    started = {"stages": [s.name for s in p.stages], "bus": ctx.cfg.bus.type, "store": ctx.cfg.store.type,
               "http": f"{p.http.host}:{p.http.port}" if p.http else None}
    idle = [s.name for s in p.stages if s.name == "collect" and not s.collectors]
    if as_json:
        emit_json(started)
    else:
        click.echo(f"warden running: stages={','.join(started['stages'])} bus={started['bus']} "
                   f"store={started['store']}" + (f" http={started['http']}" if started["http"] else ""), err=True)
    alone = [s for s in STAGES if s not in started["stages"]] if ctx.cfg.bus.type == "embedded" else []
    if alone:       # `--stage detect` on the embedded bus: a stage no other process can feed or drain
        click.echo(f"warning: the embedded bus lives in this process, so {','.join(started['stages'])} cannot "
                   f"exchange records with {','.join(alone)} in another process: nothing will reach or leave "
                   "this process's stages (run every stage here, or use bus.type: kafka for one stage per process)",
                   err=True)
    if idle:        # `warden run` with no config: it ran, silently receiving nothing
        click.echo("warning: the collect stage has no collectors, so nothing will arrive: configure `collectors:` "
                   "(e.g. http_ingest/default with http.enabled, or replay/NAME with paths) or replay files with "
                   "`warden replay FILE`", err=True)
    try:
        p.run()
    except KeyboardInterrupt:
        pass
    finally:
        p.close()


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", default="auto", show_default=True,
              help="Input format: auto, event, cloudtrail, k8s-audit, gcp-audit, warden-inference, openai-chat, "
                   "kserve-v2 (oip-v2), kserve-v1.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON on stdout.")
@pass_ctx
def replay(ctx, paths, fmt, as_json) -> None:
    """Replay JSON-lines (or whole JSON) files through the full pipeline ('-' reads stdin). Exits 1
    when any record was dead-lettered (`warden deadletters list` says why)."""
    from agent.pipeline import Pipeline
    from core import registry

    collector = registry.create("collector", "replay/cli", {"paths": list(paths), "format": fmt})
    p = Pipeline(ctx.cfg, collectors=[collector], http=False)
    try:
        c = p.rt.counters
        names = {"events": "collect.events", "dead_letters": "collect.deadletter",
                 "alerts_opened": "decide.alerts_opened"}
        before = {k: c.get(n) for k, n in names.items()}     # this replay's counts, whatever ran before in-process
        with pipeline_progress(c, "replaying", enabled=None if not as_json else False):
            p.drain()
        out = {k: int(c.get(n) - before[k]) for k, n in names.items()}
    finally:
        p.close()
    if as_json:
        emit_json(out)
    else:
        click.echo(f"replayed: {out['events']:,} events, {out['dead_letters']:,} dead letters, "
                   f"{out['alerts_opened']:,} alerts opened", err=True)
        if out["dead_letters"]:
            again = "warden" + "".join(f" {opt} {shlex.quote(str(v))}" for opt, v in
                                       (("-c", ctx.config_path), ("--data-dir", ctx.data_dir)) if v)
            click.echo(f"why each was refused: {again} deadletters list (after a fix: {again} deadletters "
                       "replay --all)", err=True)
    if out["dead_letters"]:
        raise SystemExit(EXIT_FAIL)


def demo_config(data_dir: str, hours: int, seed: int):
    from core import registry
    from agent.config import parse

    # the built-in set, each one that is installed
    detectors = {name: dict(opts) for name, opts in DEFAULT_DETECTORS.items()
                 if name.split("/")[0] in registry.all_of("detector")}
    cfg = parse({"data_dir": data_dir, "bus": {"type": "embedded"}, "store": {"type": "sqlite"},
                 "collectors": {"scenario/demo": {"seed": seed, "hours": hours}}, "detectors": detectors},
                "<demo>")
    cfg.data_dir = data_dir     # never $WARDEN_DATA_DIR: the demo writes only into its own folder
    return cfg


#: the demo's folder when none is named (never $WARDEN_DATA_DIR: the demo writes only into its own folder)
DEMO_DIR = ".warden/demo"


@cli.command()
@click.option("--hours", default=6, show_default=True, help="Simulated hours of the scenario.")
@click.option("--seed", default=7, show_default=True)
@click.option("--data-dir", default=None,
              help="The demo's folder (default: warden's own --data-dir, else .warden/demo): new, empty, or one an "
                   "earlier demo marked as its own (anything else is refused; only the files an earlier demo "
                   "wrote are replaced).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def demo(ctx, hours, seed, data_dir, as_json) -> None:
    """Run the embedded pipeline over the bundled incident scenario and show alerts and actions."""
    from agent.cli.demo_dir import existing, prepare, record
    from agent.pipeline import Pipeline
    from core.stores import AlertQuery

    if data_dir and ctx.data_dir and data_dir != ctx.data_dir:
        raise click.UsageError(f"two demo folders: warden --data-dir {ctx.data_dir} and demo --data-dir {data_dir}")
    # `warden --data-dir X demo` writes to X (it went to .warden/demo, and `alerts list` on X found nothing)
    data_dir = data_dir or ctx.data_dir or DEMO_DIR
    from core import registry
    from core.component import build_config
    # the scenario's options first: a refused --hours created and marked the folder before
    build_config(registry.get("collector", "scenario"), {"seed": seed, "hours": hours}, "scenario/demo")
    prepare(data_dir)
    before = existing(data_dir)
    cfg = demo_config(data_dir, hours, seed)
    t0 = time.monotonic()
    p = Pipeline(cfg)
    try:
        with pipeline_progress(p.rt.counters, "demo", enabled=None if not as_json else False):
            p.drain()
        alerts = p.rt.store.list_alerts(AlertQuery(limit=1000))
        actions = p.rt.store.list_actions(limit=1000)
        counters = p.rt.counters.snapshot()
    finally:
        p.close()
        record(data_dir, before)
    if as_json:
        emit_json({"alerts": alerts, "actions": actions, "counters": counters})
        return
    click.echo(f"warden demo: {int(counters.get('collect.events', 0))} events over {hours} simulated hours "
               f"({len(cfg.detectors)} detectors) in {time.monotonic() - t0:.1f}s; "
               f"{int(counters.get('collect.deadletter', 0))} dead letters\n")
    click.echo(f"ALERTS ({len(alerts)})")
    table(["id", "first seen", "severity", "status", "entity", "count", "title"],
          [[a.id[:12], fmt_time(a.first_seen), a.severity, a.status, a.entity, a.count, a.title[:80]]
           for a in sorted(alerts, key=lambda a: a.first_seen)])
    click.echo(f"\nACTIONS ({len(actions)}) — dry-run unless a policy says otherwise")
    table(["responder", "action", "target", "mode", "status", "alert"],
          [[x.responder, x.action, x.target, "dry-run" if x.dry_run else "real", x.status, x.alert_id[:12]]
           for x in sorted(actions, key=lambda x: (x.time, x.id))])
    q = shlex.quote(data_dir)
    click.echo(f"\nalerts stored in {cfg.sqlite_path}; next:\n  warden --data-dir {q} alerts list\n"
               f"  warden --data-dir {q} alerts explain <id>")
