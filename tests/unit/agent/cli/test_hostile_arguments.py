"""Numbers a command cannot use are usage errors (exit 2, naming the option), not a wrapped port,
a silently dropped row, a traceback or a false result (--alpha 5 reported drift on identical data;
`ui --port 99999` served on port 34463; `--limit -1` listed everything or dropped the first letter;
`train metric-model` on a folder without series printed a traceback; `guard score --threshold 5`
ended in a ValueError traceback; `--alpha nan` passed click's range and reported no drift)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from agent.cli import _load_commands, cli

_load_commands()


@pytest.fixture
def csvs(tmp_path):
    rows = "a\n" + "\n".join(str(i % 7) for i in range(200)) + "\n"
    for name in ("ref.csv", "cur.csv"):
        (tmp_path / name).write_text(rows)
    (tmp_path / "empty").mkdir()
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["drift", "check", "--reference", "{d}/ref.csv", "--current", "{d}/cur.csv", "--alpha", "5"], "'--alpha'"),
    (["drift", "stream", "--reference", "{d}/ref.csv", "--stream", "{d}/cur.csv", "--alpha", "0"], "'--alpha'"),
    (["drift", "stream", "--reference", "{d}/ref.csv", "--stream", "{d}/cur.csv", "--window", "0"], "'--window'"),
    (["drift", "check", "--reference", "{d}/ref.csv", "--current", "{d}/cur.csv", "--alpha", "nan"],
     "'--alpha': 'nan' is not a number"),
    (["guard", "score", "--in", "{d}/ref.csv", "--out", "{d}/g.bin", "--threshold", "5"], "'--threshold'"),
    (["guard", "score", "--in", "{d}/ref.csv", "--out", "{d}/g.bin", "--threshold", "nan"],
     "'--threshold': 'nan' is not a number"),
    (["ui", "--port", "99999"], "'--port'"),
    (["ui", "--port", "-1"], "'--port'"),
    (["alerts", "list", "--limit", "-1"], "'--limit'"),
    (["actions", "list", "--limit", "0"], "'--limit'"),
    (["deadletters", "list", "--limit", "-1"], "'--limit'"),
    (["train", "prompt-guard", "--data", "{d}/ref.csv", "--out", "{d}/g.bin", "--limit", "-3"], "'--limit'"),
    (["train", "metric-model", "--data", "{d}/ref.csv", "--out", "{d}/m", "--epochs", "0"], "'--epochs'"),
    (["train", "metric-model", "--data", "{d}/empty", "--out", "{d}/m"], "no CSV series with a value column"),
    (["train", "metric-model", "--data", "{d}/ref.csv", "--out", "{d}/m", "--window", "500"],
     "no series longer than the window (500 points)"),
])
def test_an_unusable_number_or_input_is_a_usage_error_naming_it(csvs, args, message):
    r = CliRunner().invoke(cli, ["--data-dir", str(csvs / "w"), *[a.format(d=csvs) for a in args]])
    assert r.exit_code == 2 and message in r.output, (r.exit_code, r.output, r.exception)
    assert not (csvs / "m").exists() and not (csvs / "g.bin").exists()
