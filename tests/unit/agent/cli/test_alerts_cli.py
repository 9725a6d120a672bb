"""`warden alerts list|show|ack|assign|resolve|explain` against a populated SQLite store."""
from __future__ import annotations

import orjson
import pytest

from tests.unit.agent.lifecycle.cli_fixture import invoke, populate


@pytest.fixture
def conf(tmp_path):
    return populate(tmp_path)


def _ids(conf):
    return {a["rule"]: a["id"] for a in orjson.loads(invoke(conf, "alerts", "list", "--json").output)}


def test_ack_assign_resolve_workflow(conf):
    ids = _ids(conf)
    leak = ids["gpu-leak"]
    r = invoke(conf, "alerts", "ack", leak[:10], "--by", "dana", "--note", "looking", "--json")
    assert r.exit_code == 0 and orjson.loads(r.output)["status"] == "acknowledged"
    r = invoke(conf, "alerts", "assign", leak[:10], "erin", "--json")
    assert orjson.loads(r.output)["assignee"] == "erin"
    table = invoke(conf, "alerts", "list").output
    assert "acknowledged" in table and "erin" in table and "ASSIGNEE" in table
    listed = orjson.loads(invoke(conf, "alerts", "list", "--json", "--status", "acknowledged").output)
    assert [a["id"] for a in listed] == [leak]
    r = invoke(conf, "alerts", "resolve", leak, "--note", "restarted the job")
    assert r.exit_code == 0 and "resolved" in r.output
    assert orjson.loads(invoke(conf, "alerts", "show", leak, "--json").output)["status"] == "resolved"
    for cmd in (["ack", "ffffffff"], ["assign", "ffffffff", "x"], ["resolve", "ffffffff"], ["explain", "ffffffff"]):
        assert invoke(conf, "alerts", *cmd).exit_code == 3


@pytest.mark.parametrize("cmd, error", [(["note", "{id}"], "a note needs its text"),
                                        (["note", "{id}", "--note", " "], "a note needs its text"),
                                        (["assign", "{id}", ""], "assign needs someone")])
def test_a_note_without_text_or_an_assignment_to_nobody_is_refused(conf, cmd, error):
    """They answered 0 and recorded an empty note / an empty assignee."""
    leak = _ids(conf)["gpu-leak"]
    r = invoke(conf, "alerts", *[c.format(id=leak) for c in cmd])
    assert r.exit_code == 2 and error in r.output, r.output
    assert orjson.loads(invoke(conf, "alerts", "show", leak, "--json").output).get("history", []) == []


def test_explain_shows_policy_detector_evidence_events_and_actions(conf):
    ids = _ids(conf)
    e = orjson.loads(invoke(conf, "alerts", "explain", ids["prompt-injection"], "--json").output)
    assert e["policy"]["id"] == "prompt-injection" and e["policy"]["match"] == {"detector": ["prompt_guard/*"]}
    assert e["policy"]["group_by"] == ["entity", "evidence.client.id"]
    assert e["detector"] == "prompt_guard/default" and e["evidence"]["enduser.id"] == "trial-7"
    assert e["event_ids"] == ["ev-llm-chat-1000-0"] and len(e["finding_ids"]) == 1
    assert {(a["responder"], a["status"]) for a in e["actions"]} == {("log/default", "planned"),
                                                                      ("blocklist/default", "pending_approval")}
    text = invoke(conf, "alerts", "explain", ids["prompt-injection"]).output
    assert "matched policy prompt-injection" in text and "EVIDENCE" in text and "ev-llm-chat" in text


def test_show_lists_labels_and_actions(conf):
    ids = _ids(conf)
    out = invoke(conf, "alerts", "show", ids["gpu-leak"]).output
    assert "node=gpu-node-3" in out and "log/default notify" in out


def test_since_that_leaves_nothing_says_when_the_newest_alert_was_seen(conf):
    """--since counts back from now and alerts carry event time: on replayed or demo data it
    printed an empty list and nothing else (the README's own demo example did)."""
    r = invoke(conf, "alerts", "list", "--since", "1h", "--json")
    assert r.exit_code == 0 and orjson.loads(r.stdout) == []
    assert "no alert seen since" in r.stderr and "the newest that matches was last seen 1970-01-01" in r.stderr
    r = invoke(conf, "alerts", "list", "--since", "1970-01-01T00:00:00Z", "--json")
    assert orjson.loads(r.stdout) and "no alert seen" not in r.stderr


@pytest.mark.parametrize("what", ["alerts", "actions"])
def test_a_list_cut_at_its_limit_says_so(conf, what):
    r = invoke(conf, what, "list", "--limit", "1", "--json")
    assert r.exit_code == 0 and len(orjson.loads(r.stdout)) == 1
    assert "there may be more: --limit N" in r.stderr, r.stderr                  # 100 rows looked like all
    r = invoke(conf, what, "list", "--limit", "1000", "--json")
    assert "there may be more" not in r.stderr
