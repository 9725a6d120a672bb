"""`warden rules test|lint`: run every rule's example events; report bad rules."""
from __future__ import annotations

import sys

import click

from agent.cli.app import cli
from agent.cli.output import emit_json
from agent.cli.render import fmt_value


@cli.group("rules")
def rules_group() -> None:
    """Detection rules (Sigma)."""


def _item(item) -> str:
    """One reported item for people: `key: value` pairs, not a Python dict repr."""
    if isinstance(item, dict):
        return "; ".join(f"{k}: {_item(v) if isinstance(v, (dict, list)) else fmt_value(k, v)}"
                         for k, v in item.items())
    if isinstance(item, list):
        return ", ".join(_item(x) for x in item)
    return str(item)


def _report(rep: dict, code: int, as_json: bool) -> None:
    if as_json:
        emit_json(rep)
    else:
        for key, val in rep.items():
            if isinstance(val, list):
                click.echo(f"{key}: {len(val)}")
                for item in val[:50]:
                    click.echo(f"  - {_item(item)}")
                if len(val) > 50:
                    click.echo(f"  ... {len(val) - 50} more (--json lists all)")
            else:
                click.echo(f"{key}: {_item(val)}")
    sys.exit(code)


@rules_group.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True)
def test(paths, as_json) -> None:
    """Run each rule's malicious and benign example events (default: warden's own rules)."""
    from agent.cli.sigma_support import test_rules
    rep, code = test_rules(list(paths) or None)
    _report(rep, code, as_json)


@rules_group.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True)
def lint(paths, as_json) -> None:
    """Report rules that do not parse or compile, and missing metadata."""
    from agent.cli.sigma_support import lint_rules
    rep, code = lint_rules(list(paths) or None)
    _report(rep, code, as_json)
