"""Relative file paths in a config file are read from the config file's folder, whichever folder
warden is started from (they were read from the working directory: a config loaded from elsewhere
lost its policies)."""
from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import load


@pytest.mark.parametrize("yaml_text, read", [
    ("policies: [pol/mine.yaml]", lambda c: c.policies[0]),
    ("data_dir: state", lambda c: c.data_dir),
    ("store: {path: db/alerts.db}", lambda c: c.store.path),
    ("store: {ca_certs: certs/ca.pem}", lambda c: c.store.ca_certs),
    ("http: {client_ca: certs/ca.pem, tls_cert: certs/c.pem, tls_key: certs/k.pem}", lambda c: c.http.client_ca),
    ("http: {tls_cert: certs/c.pem, tls_key: certs/k.pem}", lambda c: c.http.tls_key),
])
def test_a_relative_path_is_read_from_the_config_files_folder(tmp_path, monkeypatch, yaml_text, read):
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "warden.yaml").write_text(yaml_text + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("WARDEN_DATA_DIR", raising=False)
    got = Path(read(load("../etc/warden.yaml")))
    assert got.is_absolute() and str(got).startswith(f"{conf_dir.resolve()}/"), got


def test_absolute_paths_and_a_token_file_next_to_the_config(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "ingest.token").write_text("ingest-token-0123456789\n")
    (tmp_path / "etc" / "warden.yaml").write_text(
        f"policies: [{tmp_path / 'abs.yaml'}]\n"
        "http: {tokens: {otel: {token_file: ingest.token, scopes: [ingest]}}}\n")
    monkeypatch.chdir(tmp_path)
    cfg = load("etc/warden.yaml")      # the token file is read at load: found next to the config
    assert cfg.policies == [str(tmp_path / "abs.yaml")]
    assert cfg.http.tokens["otel"]["token_file"] == str((tmp_path / "etc" / "ingest.token").resolve())
