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


def test_the_example_config_from_another_folder_reads_its_policies_next_to_it(monkeypatch, tmp_path):
    """Its policy file is named relative to the config (they were read from the working directory:
    the example worked only from the repository root)."""
    from agent.cli import _load_commands, cli
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WARDEN_HTTP_TOKEN", "example-token-0123456789")
    _load_commands()
    r = CliRunner().invoke(cli, ["-c", str(ROOT / "deploy/examples/oncall-integrations.yaml"), "config", "check"])
    assert r.exit_code == 0, r.output
    assert "policies=2" in r.output
