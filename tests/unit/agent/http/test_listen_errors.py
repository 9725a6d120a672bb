"""An address or port `warden run` cannot listen on is one error line naming http.host /
http.port before "warden running" (exit 2): a port in use ended in an OSError traceback after
"warden running", an unresolvable host in socket.gaierror's. A trusted proxy that is not an IP
address or network ("10.0.0.0/33", taken by uvicorn as a name no peer has: the proxy was never
believed) and an empty host are config errors."""
from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from agent.cli import _load_commands, cli
from agent.config import parse
from core.errors import ConfigError

_load_commands()


def test_a_port_in_use_is_named_before_warden_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WARDEN_HTTP_TOKEN", "t" * 20)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        conf = tmp_path / "warden.yaml"
        conf.write_text(f"data_dir: data\nhttp: {{enabled: true, port: {port}}}\n"
                        "collectors: {http_ingest/default: {}}\n")
        r = CliRunner().invoke(cli, ["-c", str(conf), "run"])
    assert r.exit_code == 2 and "warden running" not in r.output, (r.output, r.exception)
    assert f"error: http.host / http.port: cannot listen on '127.0.0.1' port {port}: Address already in use" \
        in r.output, r.output


@pytest.mark.parametrize("http, message", [
    ({"trusted_proxies": ["10.0.0.0/33"]}, "trusted_proxies: '10.0.0.0/33' is not an IP address or network"),
    ({"trusted_proxies": ["proxy.internal"]}, "trusted_proxies: 'proxy.internal' is not an IP address"),
    ({"host": " "}, "host must name an address to listen on"),
])
def test_proxies_and_host_that_cannot_work_are_config_errors(http, message):
    with pytest.raises(ConfigError, match=message):
        parse({"http": http})
    assert parse({"http": {"trusted_proxies": ["10.0.0.0/8", "192.168.1.10", "::1"]}}).http.trusted_proxies
