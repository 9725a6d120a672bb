"""Truthful health: heartbeats written by running stages, the verdict drawn from them, `warden
status` exiting 1 with the reason, and /readyz distinct from /healthz."""
from __future__ import annotations

import orjson
import pytest
import requests
from click.testing import CliRunner

from agent.cli import _load_commands, cli
from agent.config import parse
from core.counters import Counters
from agent.health.heartbeat import Heartbeat, HeartbeatWriter, read_heartbeats
from agent.health.verdict import Thresholds, assess
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from core.state import StateStore
from tests.support.synthetic import SyntheticCollector

NOW = 1_800_000_000.0
_load_commands()


def beat(stage="detect", age=1.0, **kw) -> Heartbeat:
    t = NOW - age
    d = dict(stage=stage, process="h:1:0", time=t, started=t - 3600, last_progress=t, lag=0)
    d.update(kw)
    return Heartbeat(**d)


@pytest.mark.parametrize("beats,healthy,reason", [
    ([], False, "no stage has reported"),
    ([beat()], True, ""),
    ([beat(age=600)], False, "no heartbeat for 10 min"),
    ([beat(age=600, stopped=True)], False, "stopped 10 min ago"),
    ([beat(age=600), beat(process="h:2:0")], True, ""),             # a replica replaced: one runs
    ([beat(lag=500, last_progress=NOW - 300)], False, "stuck"),
    ([beat(lag=0, last_progress=NOW - 3000)], True, ""),            # idle with nothing waiting is fine
    ([beat(lag_samples=[(NOW - 30 + 5 * i, 10 * i) for i in range(6)])], False, "lag growing"),
    ([beat(lag_samples=[(NOW - 30 + 5 * i, 10 * (i % 2)) for i in range(6)])], True, ""),
    ([beat(deadletters=[(NOW - 3000, 4.0), (NOW - 60, 6.0)])], False, "2 dead letter(s)"),
    ([beat(deadletters=[(NOW - 3000, 4.0), (NOW - 2000, 4.0)])], True, ""),
    ([beat(started=NOW - 100, deadletters=[(NOW - 60, 3.0)])], False, "3 dead letter(s)"),
    ([beat(age=30 * 86400)], False, "no stage has reported"),        # forgotten
    ([beat(last_ok=NOW - 300, last_error="ValueError", last_error_time=NOW - 1, failures=40)], False,
     "every step fails"),                                               # a poison record retried for ever
    ([beat(last_ok=NOW - 1, last_error="OSError", last_error_time=NOW - 100, failures=1)], False, "a step failed"),
    ([beat(last_ok=NOW - 1, last_error="OSError", last_error_time=NOW - 5000, failures=1)], True, ""),
])
def test_verdict(beats, healthy, reason):
    v = assess(beats, NOW, Thresholds())
    assert v.healthy is healthy
    assert (reason in " ".join(v.problems)) if reason else not v.problems


def test_writer_rate_limits_and_keeps_bounded_samples(tmp_path):
    st = StateStore(tmp_path / "s.db")
    t = [NOW]
    c = Counters()
    w = HeartbeatWriter("detect", st.put, c, clock=lambda: t[0], interval_s=5)
    for i in range(200):
        t[0] += 1
        c.inc("detect.deadletter", i % 50 == 0)
        w.beat(10, lambda: i)
    [hb] = read_heartbeats(st)
    assert hb.records == 1960 and hb.time == NOW + 196 and len(hb.lag_samples) == 24   # last write: t+196
    assert hb.deadletters[-1][1] == 4.0 and len(hb.deadletters) <= 61
    w.stop()
    assert read_heartbeats(st)[0].stopped
    st.close()


def _status(tmp_path, data_dir, *args):
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {data_dir}\n")
    return CliRunner().invoke(cli, ["-c", str(conf), "status", *args], catch_exceptions=False)


def test_status_on_a_mistyped_data_dir_is_not_healthy(tmp_path):
    r = _status(tmp_path, tmp_path / "typo")
    assert r.exit_code == 1 and "ATTENTION" in r.output and "no stage has reported" in r.output
    assert not (tmp_path / "typo" / "warden.db").exists()        # status creates no empty store


def test_status_after_the_agent_stopped_says_so(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "w")})
    p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), collectors=[SyntheticCollector("synthetic/t")],
                 http=False)
    p.drain()
    running = orjson.loads(_status(tmp_path, tmp_path / "w", "--json").output)
    assert running["healthy"], running["problems"]
    assert running["stages"]["detect"]["running"] and running["stages"]["detect"]["lag"] == 0
    p.close()
    r = _status(tmp_path, tmp_path / "w")
    assert r.exit_code == 1 and "detect: stopped" in r.output


def test_dead_letters_in_the_window_need_attention(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "w")})
    rt = Runtime(cfg, counters=Counters())
    p = Pipeline(cfg, runtime=rt, collectors=[SyntheticCollector("synthetic/t")], http=False)
    p.drain()
    rt.dead_letter("detect", b"{broken", "invalid JSON")
    p.stages[1].heartbeat.beat(0, lambda: 0, force=True)
    s = orjson.loads(_status(tmp_path, tmp_path / "w", "--json").output)
    assert not s["healthy"] and any("detect: 1 dead letter(s)" in x for x in s["problems"])
    assert _status(tmp_path, tmp_path / "w", "--window", "0s").exit_code == 0       # outside a zero window
    p.close()


def test_readyz_follows_the_stages_and_healthz_does_not(tmp_path):
    cfg = parse({"data_dir": str(tmp_path / "w"), "http": {"enabled": True, "port": 0, "token": "t" * 20}})
    p = Pipeline(cfg, stages=("detect",), runtime=Runtime(cfg, counters=Counters()))
    try:
        p.start()
        host, port = p.http.address
        r = requests.get(f"http://{host}:{port}/readyz", timeout=5)
        assert r.status_code == 503 and not r.json()["checks"]["stages"]["ok"]      # never stepped
        assert requests.get(f"http://{host}:{port}/healthz", timeout=5).status_code == 200
        p.stages[0].step(0)
        r = requests.get(f"http://{host}:{port}/readyz", timeout=5)
        assert r.status_code == 200 and r.json()["checks"]["bus"]["ok"], r.json()

        def poisoned(*a, **kw):
            raise ValueError("year 586524 is out of range")
        p.stages[0].consumer.poll = poisoned
        with pytest.raises(ValueError):
            p.stages[0].step(0)
        p.stages[0].heartbeat.hb.last_ok -= 60            # failing for a minute
        r = requests.get(f"http://{host}:{port}/readyz", timeout=5)
        assert r.status_code == 503 and "steps failing (ValueError" in r.json()["checks"]["stages"]["detail"]
    finally:
        p.close()
