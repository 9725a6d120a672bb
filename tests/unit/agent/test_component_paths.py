"""File options of components (typed core.component.FilePath: Sigma `rules` and `filters`, a
detector's `model_path`, drift's `reference_path`, replay `paths`, the block list's `path`, the
Kubernetes responder's `kubeconfig` / `ca_cert`) are read from the config file's folder, like the
config's own paths (`policies`, `data_dir`, ...): a config means the same from any working
directory. Before, they were read from the working directory: `config check` from another folder
said "filters file 'excl.yaml' not found" for a file next to the config."""
from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from agent.cli import _load_commands, cli
from agent.config import load
from agent.runtime import Runtime

_load_commands()

CONFIG = """\
data_dir: data
collectors:
  replay/files: {{paths: [in/events.jsonl, "-", {absolute}]}}
detectors:
  sigma/mine: {{rules: [rules], filters: excl.yaml, builtin_rules: false}}
responders:
  blocklist/mine: {{path: state/blocklist.db}}
  kubernetes/mine: {{kubeconfig: "~/kube/config", ca_cert: certs/ca.pem}}
"""


def _layout(tmp_path):
    etc = tmp_path / "etc"
    (etc / "rules").mkdir(parents=True)
    (etc / "rules" / "r.yml").write_text(
        "title: a test rule\nid: 5a1c2b9e-0d61-4f5e-9a55-1f2d3c4b5a60\nstatus: test\nlevel: medium\n"
        "logsource: {product: aws, service: cloudtrail}\n"
        "detection: {sel: {eventName: DeleteTrail}, condition: sel}\n")
    (etc / "excl.yaml").write_text("[]\n")
    (etc / "warden.yaml").write_text(CONFIG.format(absolute=tmp_path / "abs.jsonl"))
    (tmp_path / "elsewhere").mkdir()
    return etc


def test_config_check_from_another_folder_finds_files_next_to_the_config(tmp_path, monkeypatch):
    _layout(tmp_path)
    monkeypatch.chdir(tmp_path / "elsewhere")
    r = CliRunner().invoke(cli, ["-c", "../etc/warden.yaml", "config", "check"])
    assert r.exit_code == 0 and "ok:" in r.output, r.output


def test_built_components_read_their_files_from_the_config_folder(tmp_path, monkeypatch):
    etc = _layout(tmp_path).resolve()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WARDEN_DATA_DIR", raising=False)
    cfg = load("../etc/warden.yaml")
    rt = Runtime(cfg)
    (replay,) = rt.build("collector")
    assert replay.config.paths == [str(etc / "in/events.jsonl"), "-", str(tmp_path / "abs.jsonl")]
    (sigma,) = rt.build("detector")
    assert sigma.config.rules == [str(etc / "rules")] and sigma.config.filters == str(etc / "excl.yaml")
    blocklist, kube = rt.build("responder")
    assert blocklist.config.path == str(etc / "state/blocklist.db")
    assert kube.config.kubeconfig == str(tmp_path / "home/kube/config") and kube.config.ca_cert == str(etc / "certs/ca.pem")
    assert not any(Path(p).exists() for p in (tmp_path / "elsewhere" / "rules", tmp_path / "elsewhere" / "state"))


def test_a_config_not_read_from_a_file_keeps_the_working_directory(tmp_path, monkeypatch):
    from agent.config import parse
    monkeypatch.chdir(tmp_path)
    cfg = parse({"collectors": {"replay/x": {"paths": ["a.jsonl"]}}})
    (replay,) = Runtime(cfg).build("collector")
    assert replay.config.paths == ["a.jsonl"] and cfg.config_dir is None
    assert os.path.abspath(replay.config.paths[0]) == str(tmp_path / "a.jsonl")
