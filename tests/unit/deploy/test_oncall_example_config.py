"""The on-call integrations example (deploy/examples/oncall-integrations.yaml) passes
`warden config check`: every responder builds, every route names one that exists."""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[3]


def test_the_example_config_checks(monkeypatch):
    from agent.cli import _load_commands, cli
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("WARDEN_HTTP_TOKEN", "example-token-0123456789")   # the example's server needs a token (secure default)
    _load_commands()
    r = CliRunner().invoke(cli, ["-c", "deploy/examples/oncall-integrations.yaml", "config", "check"])
    assert r.exit_code == 0, r.output
    assert "store=elasticsearch" in r.output and "policies=2" in r.output


def test_the_example_config_from_another_folder_says_where_relative_paths_are_read(monkeypatch, tmp_path):
    from agent.cli import _load_commands, cli
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WARDEN_HTTP_TOKEN", raising=False)
    _load_commands()
    r = CliRunner().invoke(cli, ["-c", str(ROOT / "deploy/examples/oncall-integrations.yaml"), "config", "check"])
    assert r.exit_code == 2
    assert f"a relative path is read from the working directory {tmp_path}" in r.output, r.output
    assert "http: refusing" in r.output and "http: http:" not in r.output, r.output
