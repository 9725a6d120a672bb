"""`warden config check`: build every component and policy without starting anything."""
from __future__ import annotations

import click

from agent import registry
from agent.cli.app import cli, pass_ctx


@cli.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("check")
@pass_ctx
def check(ctx) -> None:
    """Validate the config: sections, components, policies and their routes."""
    from rules.policy import PolicySet
    from agent.stages.act import ActStage

    cfg = ctx.cfg
    n = 0
    for kind, section in (("collector", cfg.collectors), ("detector", cfg.detectors), ("responder", cfg.responders)):
        for name, opts in section.items():
            registry.create(kind, name, opts)
            n += 1
    policies = PolicySet.load(cfg.policies or None)
    responders = {name: registry.create("responder", name, opts) for name, opts in cfg.responders.items()}
    act = ActStage.__new__(ActStage)   # only the route check, no runtime
    act.responders = responders
    act.check_policies(policies)
    if cfg.http.enabled:               # the secure default: no unauthenticated server off loopback
        from agent.http.server import HttpServer
        HttpServer.from_config(cfg.http)
    click.echo(f"ok: {cfg.source}: bus={cfg.bus.type} store={cfg.store.type} components={n} "
               f"policies={len(policies.policies)}")
