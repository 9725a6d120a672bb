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


#: the code's folders whose docstrings, help and messages quote `warden ...` commands to users
CODE = ("agent", "collectors", "core", "policy", "detectors", "responders", "bench")


def code_commands() -> list[str]:
    root = README.parent
    found = {m for folder in CODE for f in (root / folder).rglob("*.py")
             for m in re.findall(r"`(warden [^`]+)`", f.read_text(encoding="utf-8"))}
    return sorted(found)


def test_every_inline_readme_command_names_real_commands_and_options():
    """The README's inline `warden ...` commands (other sections) parse: every command and option
    exists (files they name need not exist here, nor their required values)."""
    cmds = inline_commands()
    assert len(cmds) >= 10
    for line in cmds:
        _check_command(line)


def test_every_command_the_code_quotes_exists():
    """`warden ...` in the code's docstrings, help and messages: the same check (`warden formats`,
    `warden demo --write` and `warden replay --dry` were quoted; none exists)."""
    cmds = code_commands()
    assert len(cmds) >= 20
    for line in cmds:
        _check_command(line)


def _check_command(line: str) -> None:
    import click
    # synopsis style (`[--note TEXT]`, `...`): the options in brackets are checked like the others
    words = shlex.split(line.replace("[", " ").replace("]", " "))[1:]
    args = [("VALUE" if i and words[i - 1].startswith("-") else None) if a == "..." else a for i, a in enumerate(words)]
    args = [a for a in args if a is not None]
    try:
        ctx = cli.make_context("warden", list(args), resilient_parsing=True)
        cmd, rest = cli, [*ctx.protected_args, *ctx.args]
        while isinstance(cmd, click.Group) and rest:
            # `ack|resolve`: each alternative must be a command; the first one is followed
            alts = rest[0].split("|")
            assert all(a in cmd.commands for a in alts), f"{line}: no command {rest[0]!r}"
            name, cmd, rest = cmd.resolve_command(ctx, [alts[0], *rest[1:]])
            ctx = cmd.make_context(name, list(rest), parent=ctx, resilient_parsing=isinstance(cmd, click.Group))
            rest = [*ctx.protected_args, *ctx.args] if isinstance(cmd, click.Group) else []
    except click.exceptions.Exit:
        pass                                    # `--help`: the command exists, its help was asked for
    except (click.NoSuchOption, click.UsageError) as e:
        if not isinstance(e, (click.MissingParameter, click.BadParameter)):
            raise AssertionError(f"{line}: {e}") from None


def synopsis_lines() -> list[str]:
    """The `warden ...` lines of the README's CLI synopsis (the plain block under "## The CLI")."""
    text = README.read_text()
    block = re.search(r"```\n(warden .*?)```", text[text.index("## The CLI"):], re.S).group(1)
    return [ln for ln in block.splitlines() if ln.startswith("warden ")]


def _accepted(param, value: str) -> bool:
    import click
    from collectors.formats import all_formats
    if isinstance(param.type, click.Choice):
        return value in param.type.choices
    if "--format" in param.opts:
        return value in set(all_formats()) | {"auto"}
    return True


def test_the_cli_synopsis_names_real_commands_options_and_values():
    """Each synopsis line's commands (alternatives `a|b` each), options and listed option values
    (`--format auto|event|...`, `--stage collect|detect`) exist: a value the code does not take, or a
    value it takes that the help leaves out, is how `kserve-v1` went missing from `replay --help`."""
    import click
    lines = synopsis_lines()
    assert len(lines) >= 20
    for line in lines:
        words = line.split("   ")[0].split()[1:]          # the description after 3 spaces is prose
        cmds: list[click.Command] = [cli]
        while words and isinstance(cmds[0], click.Group) and re.fullmatch(r"[a-z][a-z-]*(\|[a-z-]+)*", words[0]):
            alts = words.pop(0).split("|")
            assert all(a in cmds[0].commands for a in alts), f"{line}: no command {alts}"
            cmds = [cmds[0].commands[a] for a in alts]
        for i, w in enumerate(words):
            if w == "|":
                break                                       # `rules test [PATH] | rules lint [PATH]`
            m = re.match(r"\[?(--[a-z][a-z-]*)", w)
            if not m:
                continue
            for cmd in cmds:
                params = {o: p for p in [*cmd.params, *cli.params] for o in p.opts}
                assert m.group(1) in params, f"{line}: {cmd.name} has no option {m.group(1)}"
                nxt = words[i + 1].strip("[]").removesuffix("]...").rstrip(".") if i + 1 < len(words) else ""
                if "|" in nxt and not params[m.group(1)].is_flag:
                    for value in nxt.split("|"):
                        assert _accepted(params[m.group(1)], value), f"{line}: {m.group(1)} does not take {value}"
                    help_text = params[m.group(1)].help or ""
                    if "--format" in params[m.group(1)].opts and help_text:
                        missing = [v for v in nxt.split("|") if v not in help_text]
                        assert not missing, f"{line}: --help of {cmd.name} --format leaves out {missing}"


def test_the_configuration_example_passes_config_check(tmp_path, monkeypatch):
    """The README's config example (section "Configuration") uses only keys and values warden
    takes: `config check` finds nothing but its policy path, which names the reader's own file."""
    text = README.read_text()
    block = re.search(r"```yaml\n(bus: .*?)```", text[text.index("## Configuration"):], re.S).group(1)
    assert "policies: [/etc/warden/policies.yaml]" in block
    conf = tmp_path / "warden.yaml"
    conf.write_text(block.replace("policies: [/etc/warden/policies.yaml]", ""))
    monkeypatch.setenv("WARDEN_HTTP_TOKEN", "readme-example-token-0123")
    r = CliRunner().invoke(cli, ["-c", str(conf), "config", "check", "--json"])
    assert r.exit_code == 0, r.output
