"""`warden actions list|approve|undo|verify` and `warden status`, with the blocklist responder
(a real, local effect) and a tampered action log."""
from __future__ import annotations

import orjson

from responders.blocklist import BlockList
from tests.unit.agent.lifecycle.cli_fixture import invoke, populate


def test_approve_runs_the_pending_action_and_undo_reverts_it(tmp_path):
    conf = populate(tmp_path)
    bl = BlockList(tmp_path / "w" / "blocklist.db")
    [pending] = orjson.loads(invoke(conf, "actions", "list", "--status", "pending_approval", "--json").output)
    assert pending["responder"] == "blocklist/default" and not pending["dry_run"]
    assert bl.is_blocked(end_user="trial-7") is None
    st = orjson.loads(invoke(conf, "status", "--json").output)
    assert st["pending_approvals"] == 1 and st["healthy"]

    r = invoke(conf, "actions", "approve", pending["id"][:12], "--by", "dana", "--json")
    assert r.exit_code == 0, r.output
    [done] = orjson.loads(r.output)
    assert done["status"] == "done" and done["id"] == pending["id"]
    assert bl.is_blocked(end_user="trial-7").startswith("end_user blocked")
    assert invoke(conf, "actions", "approve", pending["id"][:12]).exit_code == 2      # not pending any more

    r = invoke(conf, "actions", "undo", pending["id"][:12], "--json")
    assert r.exit_code == 0 and orjson.loads(r.output)["status"] == "undone"
    assert bl.is_blocked(end_user="trial-7") is None
    assert invoke(conf, "actions", "undo", "ffffffff").exit_code == 3
    table = invoke(conf, "actions", "list").output
    assert "undone" in table and "blocklist/default" in table

    v = orjson.loads(invoke(conf, "actions", "verify", "--json").output)
    assert v["ok"]
    phases = [e["phase"] for e in __import__("policy.action_log", fromlist=["ActionLog"]).ActionLog.for_data_dir(
        tmp_path / "w").entries()]
    assert phases[-5:] == ["approve", "intent", "result", "undo-intent", "undo-result"]


def test_verify_detects_tampering_and_status_flags_it(tmp_path):
    conf = populate(tmp_path)
    log = tmp_path / "w" / "actions.log.jsonl"
    lines = log.read_bytes().splitlines()
    e = orjson.loads(lines[0])
    e["action"]["status"] = "done"                        # rewrite history
    lines[0] = orjson.dumps(e)
    log.write_bytes(b"\n".join(lines) + b"\n")
    r = invoke(conf, "actions", "verify")
    assert r.exit_code == 1 and "BROKEN" in r.output and "modified" in r.output
    s = invoke(conf, "status", "--json")
    assert s.exit_code == 1 and not orjson.loads(s.output)["action_log"]["ok"]


def test_status_table_shows_stages_and_counters(tmp_path):
    conf = populate(tmp_path)
    r = invoke(conf, "status")
    assert r.exit_code == 0
    for word in ("decide", "act", "lag", "deduplicated", "decide.folded=1", "action log: ok", "pending approvals: 1"):
        assert word in r.output, word


def test_blast_radius_blocked_action_can_be_approved_with_override(tmp_path):
    from tests.unit.agent.lifecycle.cli_fixture import POLICIES
    from tests.unit.agent.lifecycle.harness import Harness, finding
    policies = POLICIES.replace("approval: true", "approval: false") + \
        "safety: {blast_radius: {max_actions: 1, window: 1h}}\n"
    h = Harness(tmp_path, policies)
    h.feed(*[finding("llm-chat", 1000 + i, detector="prompt_guard/default", rule="prompt_injection", n=i,
                     evidence={"client.id": f"c{i}", "enduser.id": f"u{i}"}) for i in range(3)])
    h.close()
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\npolicies: [{tmp_path / 'policies.yaml'}]\n")
    blocked = orjson.loads(invoke(str(conf), "actions", "list", "--status", "blocked_by_blast_radius", "--json").output)
    assert len(blocked) == 2
    assert invoke(str(conf), "actions", "approve", blocked[0]["id"]).exit_code == 2        # needs the override
    r = invoke(str(conf), "actions", "approve", blocked[0]["id"], "--override-blast-radius", "--json")
    assert r.exit_code == 0 and orjson.loads(r.output)[0]["status"] == "done"
    bl = BlockList(tmp_path / "w" / "blocklist.db")
    assert sum(1 for i in range(3) if bl.is_blocked(end_user=f"u{i}")) == 2
