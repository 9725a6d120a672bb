"""Every line of the README's CLI examples block runs, in order, and succeeds (exit 0)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from agent.cli import _load_commands, cli
from agent.config import parse
from core.stores import AlertQuery, create_store

README = Path(__file__).resolve().parents[2] / "README.md"
_load_commands()


def example_lines() -> list[str]:
    text = README.read_text()
    start = text.index("Examples, in order after a fresh checkout")
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S).group(1)
    return [ln for ln in block.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def ids(data_dir: str) -> dict[str, str]:
    """<alert>: a firing alert of the demo; <action>: a dry-run action that can run here (block list)."""
    store = create_store(parse({"data_dir": data_dir}))
    try:
        alert = next(a for a in store.list_alerts(AlertQuery(limit=1000)) if a.status == "firing")
        action = next(x for x in store.list_actions(limit=1000)
                      if x.dry_run and x.status == "planned" and x.responder.startswith("blocklist/"))
    finally:
        store.close()
    return {"<alert>": alert.id[:12], "<action>": action.id[:12]}


def test_every_readme_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WARDEN_CONFIG", raising=False)
    monkeypatch.delenv("WARDEN_DATA_DIR", raising=False)
    lines = example_lines()
    assert len(lines) >= 10 and lines[0].startswith("warden demo")
    runner = CliRunner()
    subst: dict[str, str] = {}
    for line in lines:
        args = shlex.split(line, comments=True)
        assert args[0] == "warden", line
        if any(p in line for p in ("<alert>", "<action>")) and not subst:
            subst = ids(str(tmp_path / ".warden" / "demo"))
        args = [subst.get(a, a) for a in args[1:]]
        r = runner.invoke(cli, args, catch_exceptions=False)
        assert r.exit_code == 0, f"{line}\n{r.output}"


def inline_commands() -> list[str]:
    return sorted(set(re.findall(r"`(warden [^`]+)`", README.read_text())))


def test_every_inline_readme_command_names_real_commands_and_options():
    """The README's inline `warden ...` commands (other sections) parse: every command and option
    exists (files they name need not exist here, nor their required values)."""
    import click
    cmds = inline_commands()
    assert len(cmds) >= 10
    for line in cmds:
        args = shlex.split(line)[1:]
        ctx = cli.make_context("warden", list(args), resilient_parsing=True)
        cmd, rest = cli, [*ctx.protected_args, *ctx.args]
        try:
            while isinstance(cmd, click.Group) and rest:
                # `ack|resolve`: each alternative must be a command; the first one is followed
                alts = rest[0].split("|")
                assert all(a in cmd.commands for a in alts), f"{line}: no command {rest[0]!r}"
                name, cmd, rest = cmd.resolve_command(ctx, [alts[0], *rest[1:]])
                ctx = cmd.make_context(name, list(rest), parent=ctx, resilient_parsing=isinstance(cmd, click.Group))
                rest = [*ctx.protected_args, *ctx.args] if isinstance(cmd, click.Group) else []
        except (click.NoSuchOption, click.UsageError) as e:
            if not isinstance(e, (click.MissingParameter, click.BadParameter)):
                raise AssertionError(f"{line}: {e}") from None
