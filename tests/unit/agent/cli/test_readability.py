"""A CLI that reads well: one duration grammar, evidence for people, times with their zone,
--json on every command."""
from __future__ import annotations

import click
import pytest

from agent.cli import _load_commands, cli
from agent.cli.output import parse_since
from agent.cli.render import evidence_lines, fmt_time, fmt_value
from core.durations import format_duration, parse_duration
from core.errors import ConfigError
from policy.policies import PolicySet

_load_commands()


@pytest.mark.parametrize("text, seconds", [
    ("90s", 90), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("1.5h", 5400), ("250ms", 0.25),
    ("30", 30), (45, 45), ("1w2d", 777600), ("2 hours", 7200), ("1h 30m", 5400), (".5m", 30),
])
def test_one_duration_grammar(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "h", "5 parsecs", "1h30", "-5m", "1.2.3s", "nan", float("inf"), True])
def test_bad_durations_name_the_setting(bad):
    with pytest.raises(ConfigError, match="--for: invalid duration"):
        parse_duration(bad, "--for")


@pytest.mark.parametrize("seconds, text", [(90, "1m30s"), (5400, "1h30m"), (172800, "2d"), (604800, "1w"),
                                           (0.25, "250ms"), (2.5, "2.5s")])
def test_durations_are_written_back_in_the_same_grammar(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("section, name, opts, attr, seconds", [
    ("pipeline", None, {"checkpoint_interval_s": "1.5s"}, "checkpoint_interval_s", 1.5),
    ("responder", "retrain/x", {"cooldown_s": "1h30m"}, "cooldown_s", 5400),
    ("responder", "blocklist/x", {"default_ttl": "2d"}, "default_ttl", 172800),
    ("responder", "webhook/x", {"url": "http://127.0.0.1:9/x", "timeout_s": "250ms"}, "timeout_s", 0.25),
])
def test_config_duration_options_take_the_same_grammar(section, name, opts, attr, seconds):
    from core import registry
    from agent.config import parse
    if name is None:
        got = getattr(parse({section: opts}).pipeline, attr)
    else:
        got = getattr(registry.create(section, name, opts).config, attr)
    assert got == pytest.approx(seconds)


@pytest.mark.parametrize("where", ["since", "policy", "silence"])
def test_every_parser_takes_the_same_grammar(tmp_path, where):
    if where == "since":
        import time
        assert time.time() - parse_since("1h30m") == pytest.approx(5400, abs=5)
        assert time.time() - parse_since("1w") == pytest.approx(604800, abs=5)
    elif where == "policy":
        f = tmp_path / "p.yaml"
        f.write_text("policies: [{id: p, alert: {resolve_after: 1h30m}, "
                     "routes: [{responder: log/default, notify: {repeat_interval: 1w}}]}]\n")
        p = PolicySet.load([str(f)]).policies[0]
        assert p.resolve_after == 5400 and p.routes[0]["notify"]["repeat_interval"] == 604800
    else:
        from click.testing import CliRunner
        r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path), "silences", "add", "alertname=x", "--for", "1.5h",
                                     "--comment", "why", "--json"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        import orjson
        s = orjson.loads(r.output)
        assert s["ends_at"] - s["starts_at"] == pytest.approx(5400, abs=2) and s["comment"] == "why"


def test_evidence_is_rendered_for_people():
    ev = {"metric": "gpu.memory.used", "value": 68567411848.0, "baseline": 65963456765.0, "relative_rise": 0.0374,
          "slope_per_hour": 4938407580.0, "window": {"points": 31, "seconds": 1800.0}, "ratio": 1.5057,
          "first_time": 1767581100.0, "zscore": 14.257592672125798}
    lines = "\n".join(evidence_lines(ev))
    for want in ("value: 63.9 GiB", "baseline: 61.4 GiB", "relative_rise: 3.74%", "slope_per_hour: 4.6 GiB/h",
                 "seconds: 30m", "ratio: 1.51x", "first_time: 2026-01-05 02:45:00 UTC", "zscore: 14.26"):
        assert want in lines, (want, lines)
    assert "e+" not in lines and "{" not in lines
    assert fmt_value("value", 0.1232, "seconds") == "123.2 ms"
    chart = {"metric": "gpu.memory.used", "series": "gpu.memory.used#0", "crossings": 1, "threshold_k": None,
             "points": [[1767581040.0 + 60 * i, 6.8e10, 6.6e10, None, i == 119] for i in range(120)]}
    charted = "\n".join(evidence_lines({**ev, "chart": chart}))      # 120 points were printed as 600 numbers
    assert "chart: 120 points of gpu.memory.used from 2026-01-05 02:44:00 UTC to " in charted
    assert "1 over the threshold" in charted and "1,767,58" not in charted
    assert fmt_time(0) == "1970-01-01 00:00:00 UTC"


#: commands whose only output is JSON already (no flag needed)
JSON_ONLY = {"bench guard", "train prompt-guard", "train metric-model"}


def _commands(cmd, path=()):
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


@pytest.mark.parametrize("name, cmd", list(_commands(cli)), ids=lambda x: x if isinstance(x, str) else "")
def test_every_command_takes_json(name, cmd):
    if name in JSON_ONLY:
        import inspect
        assert "emit_json(" in inspect.getsource(cmd.callback), name
        return
    assert "--json" in {o for p in cmd.params for o in getattr(p, "opts", ())}, name


@pytest.mark.parametrize("args", [["alerts", "list"], ["alerts", "show", "abc"], ["actions", "list"]])
def test_reading_a_store_that_does_not_exist_says_so_and_creates_nothing(tmp_path, args):
    from click.testing import CliRunner
    r = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "typo"), *args])
    assert r.exit_code == 3 and "no alert store at" in r.output
    assert not (tmp_path / "typo").exists()
