"""`warden bench` on a folder without the files the benchmark reads: exit 2 naming what is
missing (it was a FileNotFoundError traceback)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from agent.cli import _load_commands, cli

_load_commands()


@pytest.mark.parametrize("args, missing", [
    (["nab", "--data", "{d}", "--out", "{d}/out"], "expected the NAB layout"),
    (["nab", "--data", "{d}", "--out", "{d}/out", "--cross-validate"], "expected the NAB layout"),
    (["guard", "--data", "{d}"], "prompt_injection_dev.jsonl"),
])
def test_a_data_folder_without_the_benchmarks_files_is_a_usage_error(tmp_path, args, missing):
    r = CliRunner().invoke(cli, ["bench", *[a.format(d=tmp_path) for a in args]])
    assert r.exit_code == 2 and missing in r.output, (r.output, r.exception)
