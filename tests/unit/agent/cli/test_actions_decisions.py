"""`warden actions reject`, approvals that expire, and `approve --real` for a dry-run action —
with the blocklist responder (a real, local effect)."""
from __future__ import annotations

import dataclasses
import time

import orjson
import pytest

from policy.action_log import ActionLog
from core.stores.sqlite import SqliteStore
from responders.blocklist import BlockList
from tests.unit.agent.lifecycle.cli_fixture import invoke
from tests.unit.agent.lifecycle.harness import Harness, finding

POLICIES = """
policies:
  - id: prompt-injection
    match: {detector: ["prompt_guard/*"]}
    alert: {group_by: [entity, evidence.enduser.id]}
    routes:
      - {responder: blocklist/default, dry_run: DRY, approval: true, approval_expires: 2h,
         params: {kind: end_user, ttl: 1h}}
"""


def populate(tmp_path, dry: bool):
    h = Harness(tmp_path, POLICIES.replace("DRY", "true" if dry else "false"))
    h.feed(finding("llm-chat", 1000, detector="prompt_guard/default", rule="prompt_injection",
                   evidence={"enduser.id": "trial-7", "decision": "deny"}))
    h.decide.checkpoint()
    h.act.checkpoint()
    h.close()
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\npolicies: [{tmp_path / 'policies.yaml'}]\n")
    [act] = SqliteStore(tmp_path / "w" / "warden.db").list_actions(limit=10)
    return str(conf), act


def test_a_rejected_action_never_runs(tmp_path):
    conf, act = populate(tmp_path, dry=False)
    assert act.status == "pending_approval"
    r = invoke(conf, "actions", "reject", act.id[:12], "--by", "dana", "--note", "false positive", "--json")
    assert r.exit_code == 0, r.output
    got = orjson.loads(r.output)
    assert got["status"] == "rejected" and got["result"]["rejected_by"] == "dana"
    assert got["result"]["note"] == "false positive"
    assert invoke(conf, "actions", "approve", act.id[:12]).exit_code == 2
    assert BlockList(tmp_path / "w" / "blocklist.db").is_blocked(end_user="trial-7") is None
    last = list(ActionLog.for_data_dir(tmp_path / "w").entries())[-1]
    assert last["phase"] == "record" and last["action"]["status"] == "rejected" and last["by"] == "dana"
    assert invoke(conf, "actions", "reject", act.id[:12]).exit_code == 2          # decided already


@pytest.mark.parametrize("age_s, exit_code, status", [(60, 0, "done"), (3 * 3600, 1, "expired")])
def test_an_approval_expires(tmp_path, age_s, exit_code, status):
    conf, act = populate(tmp_path, dry=False)
    store = SqliteStore(tmp_path / "w" / "warden.db")
    store.put_actions([dataclasses.replace(act, time=time.time() - age_s)])      # planned that long ago
    listed = orjson.loads(invoke(conf, "actions", "list", "--json").output)
    assert [x["status"] for x in listed] == ["pending_approval" if status == "done" else "expired"]
    r = invoke(conf, "actions", "approve", act.id[:12], "--by", "dana")
    assert r.exit_code == exit_code, r.output
    [now] = store.list_actions(act.alert_id)
    assert now.status == status
    blocked = BlockList(tmp_path / "w" / "blocklist.db").is_blocked(end_user="trial-7")
    assert (blocked is not None) == (status == "done")


def test_a_dry_run_action_can_be_approved_to_run_for_real(tmp_path):
    conf, act = populate(tmp_path, dry=True)
    assert act.dry_run and act.status == "planned"
    assert invoke(conf, "actions", "approve", act.id[:12]).exit_code == 2            # not pending: needs --real
    r = invoke(conf, "actions", "approve", act.id[:12], "--real", "--by", "dana", "--json")
    assert r.exit_code == 0, r.output
    [real] = orjson.loads(r.output)
    assert real["status"] == "done" and not real["dry_run"] and real["params"]["from_dry_run"] == act.id
    assert BlockList(tmp_path / "w" / "blocklist.db").is_blocked(end_user="trial-7")
    ids = {a.id: a.status for a in SqliteStore(tmp_path / "w" / "warden.db").list_actions(act.alert_id)}
    assert ids == {act.id: "planned", real["id"]: "done"}                            # the dry run stays recorded


def test_in_the_demo_folder_only_actions_that_stay_in_it_run_for_real(tmp_path):
    """The demo's entities are simulated: `approve --real` of its cordon or key deactivation would
    have run against whatever cluster or AWS account this machine's credentials reach."""
    from agent.cli.demo_dir import MARK
    conf, act = populate(tmp_path, dry=True)
    (tmp_path / "w" / MARK).write_bytes(orjson.dumps({"created_by": "warden demo", "files": []}))
    store = SqliteStore(tmp_path / "w" / "warden.db")
    cordon = dataclasses.replace(act, id="c" * 32, responder="kubernetes/default", action="cordon_node",
                                 target="node/gpu-node-3", params={})
    store.put_actions([cordon])
    store.close()
    r = invoke(conf, "actions", "approve", cordon.id[:12], "--real", "--by", "dana")
    assert r.exit_code == 2 and "warden demo's folder" in r.output and "kubernetes/default" in r.output, r.output
    assert [x for x in ActionLog.for_data_dir(tmp_path / "w").entries() if x.get("phase") == "approve"] == []
    assert invoke(conf, "actions", "approve", act.id[:12], "--real", "--by", "dana").exit_code == 0   # block list


@pytest.mark.parametrize("age_s, status", [(60, "done"), (3 * 3600, "expired")])
def test_the_web_page_approves_with_the_same_expiry_check(tmp_path, age_s, status):
    from agent.config import load
    from core.http import HttpError
    from agent.ui import operations
    conf, act = populate(tmp_path, dry=False)
    store = SqliteStore(tmp_path / "w" / "warden.db")
    store.put_actions([dataclasses.replace(act, time=time.time() - age_s)])
    if status == "done":
        assert operations.approve(load(conf), store, act.id, "dana").status == "done"
    else:
        with pytest.raises(HttpError) as e:
            operations.approve(load(conf), store, act.id, "dana")
        assert e.value.status == 409 and "expired" in e.value.reason
    [now] = store.list_actions(act.alert_id)
    assert now.status == status
    blocked = BlockList(tmp_path / "w" / "blocklist.db").is_blocked(end_user="trial-7")
    assert (blocked is not None) == (status == "done")
    by_dana = [e["phase"] for e in ActionLog.for_data_dir(tmp_path / "w").entries() if e.get("by") == "dana"]
    assert by_dana == (["approve"] if status == "done" else ["record"])
