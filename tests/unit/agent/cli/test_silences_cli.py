"""`warden silences add|list|expire`, and a silence added from the CLI muting the pipeline."""
from __future__ import annotations

import orjson

from tests.unit.agent.lifecycle.cli_fixture import invoke, populate


def test_add_list_expire_and_errors(tmp_path):
    conf = populate(tmp_path)
    r = invoke(conf, "silences", "add", "alertname=gpu-leak", 'node=~"gpu-node-.*"', "-d", "2h", "-m", "maint",
               "--by", "dana", "--json")
    assert r.exit_code == 0, r.output
    s = orjson.loads(r.output)
    assert [m["op"] for m in s["matchers"]] == ["=", "=~"] and s["created_by"] == "dana"
    assert s["ends_at"] - s["starts_at"] == 7200
    [listed] = orjson.loads(invoke(conf, "silences", "list", "--json").output)
    assert listed["id"] == s["id"] and listed["state"] == "active"
    assert "maint" in invoke(conf, "silences", "list").output
    assert invoke(conf, "silences", "expire", s["id"][:8]).exit_code == 0
    assert orjson.loads(invoke(conf, "silences", "list", "--json").output) == []
    assert orjson.loads(invoke(conf, "silences", "list", "--all", "--json").output)[0]["state"] == "expired"
    assert invoke(conf, "silences", "expire", "nope").exit_code == 3
    assert invoke(conf, "silences", "add", "not a matcher").exit_code == 2
    assert invoke(conf, "silences", "add", "a=b", "-d", "soon").exit_code == 2


def test_cli_silence_mutes_new_alerts_in_the_pipeline(tmp_path):
    from tests.unit.agent.lifecycle.harness import Harness, finding
    from tests.unit.agent.lifecycle.cli_fixture import POLICIES
    conf = populate(tmp_path / "a")
    data = tmp_path / "a" / "w"
    assert invoke(conf, "silences", "add", "alertname=gpu-leak", "entity=gpu-node-9").exit_code == 0
    h = Harness(tmp_path / "a", POLICIES)          # same data dir: the agent picks the silence up
    assert h.cfg.data_dir == str(data)
    h.feed(finding("gpu-node-9", 2000))
    [a] = [x for x in h.alerts() if x.entity == "gpu-node-9"]
    assert a.status == "suppressed" and h.rt.counters.get("decide.silenced") == 1
    h.decide.checkpoint()
    h.close()
    listed = orjson.loads(invoke(conf, "alerts", "list", "--status", "suppressed", "--json").output)
    assert [x["entity"] for x in listed] == ["gpu-node-9"]
    st = orjson.loads(invoke(conf, "status", "--json").output)
    assert st["suppressed"]["decide.silenced"] >= 1 and st["active_silences"] == 1



def test_a_silence_that_would_mute_every_alert_is_refused(tmp_path):
    """Alertmanager's rule: at least one matcher must not match an empty label value."""
    conf = populate(tmp_path)
    for matchers in (["alertname=~.*"], ["entity!=gpu-node-1"], ["alertname=~.*", "severity!~critical"]):
        r = invoke(conf, "silences", "add", *matchers, "--for", "1h")
        assert r.exit_code == 2 and "does not match the empty string" in r.output, (matchers, r.output)
    assert invoke(conf, "silences", "add", "alertname=~gpu-.*", "entity!=gpu-node-1").exit_code == 0


def test_for_and_until_together_are_refused(tmp_path):
    conf = populate(tmp_path)
    r = invoke(conf, "silences", "add", "alertname=gpu-leak", "--for", "1h", "--until", "2030-01-01T00:00:00Z")
    assert r.exit_code == 2 and "not both" in r.output, r.output          # --until won silently
    [s] = [orjson.loads(invoke(conf, "silences", "add", "alertname=gpu-leak", "--json").output)]
    assert s["ends_at"] - s["starts_at"] == 7200                            # the default stays 2h
