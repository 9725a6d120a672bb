"""`warden deadletters list|show|replay` against the real Kafka: the letters are read from the
dead-letter topic without joining a group, and re-submitted ones become events on the topics."""
from __future__ import annotations

import orjson
from click.testing import CliRunner

from agent.cli import _load_commands, cli
from agent.config import parse
from core.counters import Counters
from agent.runtime import Runtime
from tests.support.records import k8s

_load_commands()


def invoke(conf, *args):
    return CliRunner().invoke(cli, ["-c", str(conf), *args], catch_exceptions=False)


def test_dead_letters_on_kafka_are_listed_and_re_submitted(stack, run_id, tmp_path):
    raw = {"data_dir": str(tmp_path / "w"),
           "bus": {"type": "kafka", "bootstrap": stack["kafka"], "topic_prefix": f"t{run_id}.", "partitions": 3},
           "pipeline": {"group_prefix": f"g{run_id}-"}}
    conf = tmp_path / "warden.yaml"
    conf.write_bytes(orjson.dumps(raw))                      # JSON is YAML
    cfg = parse(raw)
    rt = Runtime(cfg, counters=Counters())
    rt.create_topics()
    for i in range(3):
        rt.dead_letter("collect", k8s(i), "cloudtrail: not a CloudTrail record", "replay/cli", ("cloudtrail",))
    rt.dead_letter("detect", b"\x00\x01", "invalid JSON", "detect")
    rt.producer.flush()

    r = invoke(conf, "deadletters", "list", "--json")
    assert r.exit_code == 0, r.output
    letters = orjson.loads(r.stdout)
    assert sorted(d["stage"] for d in letters) == ["collect"] * 3 + ["detect"]
    one = next(d for d in letters if d["stage"] == "collect")
    shown = orjson.loads(invoke(conf, "deadletters", "show", one["id"], "--json").stdout)
    assert shown["raw"]["kind"] == "Event" and shown["reason"].startswith("cloudtrail")
    assert shown["formats"] == ["cloudtrail"]

    r = invoke(conf, "deadletters", "replay", "--all", "--json")         # through cloudtrail again: refused
    assert r.exit_code == 1 and {x["outcome"] for x in orjson.loads(r.stdout)} == {"refused"}, r.output

    r = invoke(conf, "deadletters", "replay", "--all", "--format", "auto", "--json")   # the fix
    assert r.exit_code == 0, r.output
    assert [x["outcome"] for x in orjson.loads(r.stdout)] == ["accepted"] * 3
    events = rt.bus.read(rt.topic("audit"))
    assert len(events) == 3 and all(orjson.loads(e.value)["kind"] == "audit" for e in events)
    assert orjson.loads(invoke(conf, "deadletters", "replay", "--all", "--format", "auto", "--json").stdout) == []
    rt.close()
