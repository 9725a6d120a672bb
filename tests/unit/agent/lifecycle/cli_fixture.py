"""A data dir populated through decide/act (SQLite store) and a config file the CLI can read."""
from __future__ import annotations

from click.testing import CliRunner

from agent.cli import _load_commands, cli

_load_commands()

POLICIES = """
policies:
  - id: prompt-injection
    match: {detector: ["prompt_guard/*"]}
    alert:
      group_by: [entity, evidence.client.id]
      labels: {client: "{evidence.client.id}"}
    routes:
      - {responder: log/default, dry_run: true, notify: {group_wait: 0s}}
      - {responder: blocklist/default, dry_run: false, approval: true, params: {kind: user, ttl: 1h}}
  - id: gpu-leak
    match: {detector: ["gpu_memory_leak/*"]}
    alert: {group_by: [entity], labels: {node: "{entity}"}}
    routes:
      - {responder: log/default, dry_run: true, notify: {group_wait: 0s}}
"""


def populate(tmp_path):
    from tests.unit.agent.lifecycle.harness import Harness, finding
    h = Harness(tmp_path, POLICIES)
    h.feed(finding("llm-chat", 1000, detector="prompt_guard/default", rule="prompt_injection",
                   evidence={"client.id": "web-frontend", "enduser.id": "trial-7", "decision": "deny"}),
           finding("gpu-node-3", 1000), finding("gpu-node-3", 1060, n=1))
    h.act.flush_notifications()
    h.decide.checkpoint()
    h.act.checkpoint()
    h.close()
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\npolicies: [{tmp_path / 'policies.yaml'}]\n")
    return str(conf)


def invoke(conf, *args):
    return CliRunner().invoke(cli, ["-c", conf, *args], catch_exceptions=False)
