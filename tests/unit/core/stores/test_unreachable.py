"""An Elasticsearch store that cannot be reached (a mistyped store.hosts) is an error naming the
hosts, exit 2, for the commands that read it; it printed elastic_transport's traceback."""
from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from agent.cli import _load_commands, cli

_load_commands()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("command", [["alerts", "list"], ["actions", "list"], ["silences", "list"],
                                     ["silences", "add", "alertname=x", "--for", "1h", "--comment", "c"]])
def test_an_unreachable_elasticsearch_is_a_clear_error(tmp_path, command):
    url = f"http://127.0.0.1:{closed_port()}"
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\nstore: {{type: elasticsearch, hosts: ['{url}']}}\n")
    r = CliRunner().invoke(cli, ["-c", str(conf), *command])
    assert r.exit_code == 2 and f"cannot reach Elasticsearch at {url}" in r.output, (r.output, r.exception)
