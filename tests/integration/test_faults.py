"""Faults on the real stack: a detect replica killed with SIGKILL mid-stream and restarted, the
Kafka broker restarted during a run, Elasticsearch stopped for a while. Each time: every expected
alert is in Elasticsearch exactly once (alert id = `_id`, same counts as the embedded run), and
every input record is processed (the consumer groups' committed offsets reach the end offsets).

The broker is stopped by the pid file of deploy/local/stack and started again with
`WARDEN_STACK_SERVICES=kafka deploy/local/stack up`, which waits until it answers. Elasticsearch
is frozen with SIGSTOP and thawed with SIGCONT (from a client's view it is down: requests time out;
a real restart of the JVM takes ~2 minutes on a small machine) — WARDEN_FAULTS_REAL_RESTART=1 stops
and restarts it for real instead. A fixture makes sure every service is back before the test ends
(other tests use them).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from agent.config import parse
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from core.stores import AlertQuery
from tests.integration.conftest import ROOT
from tests.support.synthetic import SyntheticCollector

NODES, POINTS, SHIFT = 6, 900, 600
STACK = ROOT / "deploy" / "local" / "stack"
DATA = Path(os.environ.get("WARDEN_STACK_DIR", ROOT / "deploy" / "local" / ".data"))


class Part(SyntheticCollector):
    """A slice [lo, hi) of the points of one synthetic stream (same event ids as the whole)."""

    def __init__(self, lo, hi, name="synthetic/t"):
        super().__init__(name, nodes=NODES, points=POINTS, shift_at=SHIFT)
        self.lo, self.hi = lo, hi

    def events(self):
        return super().events()[self.lo * NODES:self.hi * NODES]


class Trickle(Part):
    """Unbounded-style source for Pipeline.run(): `chunk` points per call, then nothing."""
    bounded = False

    def __init__(self, chunk=30, gate=None):
        super().__init__(0, POINTS)
        self.chunk, self.at, self.gate = chunk, 0, gate

    def run_once(self):
        if self.at >= POINTS or (self.gate is not None and self.at >= self.gate[0]):
            return 0
        evs = SyntheticCollector.events(self)[self.at * NODES:(self.at + self.chunk) * NODES]
        self.at += self.chunk
        for e in evs:
            self.emitter.emit(e)
        return len(evs)


_expected_cache: dict = {}


def expected_alerts(tmp_path):
    if "v" not in _expected_cache:
        cfg = parse({"data_dir": str(tmp_path / "embedded")})
        p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), collectors=[Part(0, POINTS)], http=False)
        p.drain()
        _expected_cache["v"] = sorted((a.id, a.entity, a.count) for a in p.rt.store.list_alerts(AlertQuery(limit=1000)))
        p.close()
    return _expected_cache["v"]


def es_view(cfg):
    from core.stores.elasticsearch import ElasticsearchStore
    store = ElasticsearchStore(cfg.store)
    try:
        return sorted((a.id, a.entity, a.count) for a in store.list_alerts(AlertQuery(limit=1000)))
    except Exception:  # noqa: BLE001 - ES down
        return None
    finally:
        store.close()


def wait(until, timeout, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if until():
                return True
        except Exception:  # noqa: BLE001 - a service restarting
            pass
        time.sleep(every)
    return False


def committed_all(bus, group, topics):
    for t in topics:
        ends = bus.end_offsets(t)
        com = bus.committed(group, t)
        if any(com.get(p, 0) < o for p, o in ends.items() if o > 0):
            return False
    return True


def fast_cfg(kafka_cfg, **pipeline):
    cfg = parse({
        "data_dir": kafka_cfg.data_dir,
        "bus": {"type": "kafka", "bootstrap": kafka_cfg.bus.bootstrap, "topic_prefix": kafka_cfg.bus.topic_prefix,
                "partitions": 3, "kafka": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}},
        "store": {"type": "elasticsearch", "hosts": kafka_cfg.store.hosts, "index_prefix": kafka_cfg.store.index_prefix},
        "pipeline": {"group_prefix": kafka_cfg.pipeline.group_prefix, "batch_size": 200,
                     "checkpoint_interval_s": 0.3, **pipeline},
        "detectors": {"baseline/default": {}},
    })
    return cfg


def raw_cfg(cfg) -> dict:
    return {"data_dir": cfg.data_dir,
            "bus": {"type": "kafka", "bootstrap": cfg.bus.bootstrap, "topic_prefix": cfg.bus.topic_prefix,
                    "partitions": cfg.bus.partitions, "kafka": dict(cfg.bus.kafka)},
            "store": {"type": "elasticsearch", "hosts": cfg.store.hosts, "index_prefix": cfg.store.index_prefix},
            "pipeline": {"group_prefix": cfg.pipeline.group_prefix, "batch_size": cfg.pipeline.batch_size,
                         "checkpoint_interval_s": cfg.pipeline.checkpoint_interval_s, "state": cfg.pipeline.state},
            "detectors": dict(cfg.detectors)}


def stage(cfg, name, **kw):
    return Pipeline(cfg, stages=(name,), runtime=Runtime(cfg, counters=Counters()), http=False, **kw)


def pump(pipes, until, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in pipes:
            for s in p.stages:
                s.step(timeout=0.1)
        if until():
            return True
    return False


def spawn_detect(cfg_path: Path, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", "import sys; from agent.cli import main; sys.exit(main())",
                             "-v", "-c", str(cfg_path), "run", "--stage", "detect"],
                            cwd=str(ROOT), env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"))


# --------------------------------------------------------------------------------- services
def _pid(path: Path) -> int | None:
    try:
        return int("".join(ch for ch in path.read_text() if ch.isdigit()))
    except (OSError, ValueError):
        return None


def _stop_pid(pid: int | None, timeout=60.0) -> None:
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


REAL_RESTART = os.environ.get("WARDEN_FAULTS_REAL_RESTART") == "1"


def _es_pids() -> list[int]:
    return [p for p in (_pid(DATA / "es-run" / "elasticsearch.pid"),) if p]


def stop_service(name: str) -> None:
    if name == "elasticsearch" and not REAL_RESTART:
        for pid in _es_pids():
            os.kill(pid, signal.SIGSTOP)
        return
    if name == "kafka":
        _stop_pid(_pid(DATA / "run" / "kafka.pid"))
    else:
        _stop_pid(_pid(DATA / "es-run" / "elasticsearch.pid"))
        _stop_pid(_pid(DATA / "run" / "elasticsearch-launcher.pid"), 15)


def start_service(name: str) -> None:
    if name == "elasticsearch" and not REAL_RESTART:
        for pid in _es_pids():
            os.kill(pid, signal.SIGCONT)
        return
    subprocess.run([str(STACK), "up"], check=True, env={**os.environ, "WARDEN_STACK_SERVICES": name},
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=240)


@pytest.fixture
def service_control(stack):
    if not (DATA / "run" / "kafka.pid").exists():
        pytest.skip("the stack was not started by deploy/local/stack (no pid files): cannot stop a service")
    stopped: list[str] = []

    def stop(name):
        stopped.append(name)
        stop_service(name)

    def start(name):
        start_service(name)
        stopped.remove(name)

    yield stop, start
    for name in stopped:
        start_service(name)


# --------------------------------------------------------------------------------- tests
def test_detect_replica_killed_and_restarted(kafka_cfg, tmp_path):
    expected = expected_alerts(tmp_path)
    cfg = fast_cfg(kafka_cfg, state="kafka")
    cfg_path = tmp_path / "warden.yaml"
    cfg_path.write_text(yaml.safe_dump(raw_cfg(cfg)))
    parts = [Part(0, 300), Part(300, 600), Part(600, POINTS)]
    collect = stage(cfg, "collect", collectors=parts)
    for c in parts:
        c.finished = True

    def produce(i):
        parts[i].finished = False
        collect.stages[0].step()

    bus = collect.rt.bus
    group = cfg.pipeline.group_prefix + "detect"
    topics = [cfg.bus.topic_prefix + "telemetry"]
    produced = 0

    def committed_total():
        return sum(bus.committed(group, topics[0]).values())

    produce(0)
    produced += 300 * NODES
    first = spawn_detect(cfg_path, tmp_path / "detect-1.log")
    try:
        assert wait(lambda: committed_total() >= 300 * NODES, 90), (tmp_path / "detect-1.log").read_text()[-3000:]
        produce(1)
        produced += 300 * NODES
        wait(lambda: committed_total() > 300 * NODES, 20, every=0.05)   # it is inside the second part...
        first.send_signal(signal.SIGKILL)                                 # ...and dies without a goodbye
        first.wait(10)
        at_kill = committed_total()
        produce(2)
        produced += (POINTS - 600) * NODES
        assert at_kill < produced
    finally:
        if first.poll() is None:
            first.kill()
    second = spawn_detect(cfg_path, tmp_path / "detect-2.log")
    try:
        assert wait(lambda: committed_total() >= produced, 120), (tmp_path / "detect-2.log").read_text()[-3000:]
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    # no input event unprocessed: the detect group committed every telemetry record
    assert committed_all(bus, group, topics)
    decide, act = stage(cfg, "decide"), stage(cfg, "act")
    assert pump([decide, act], lambda: es_view(cfg) == expected, timeout=60), \
        f"ES has {es_view(cfg)}, expected {expected}"
    for p in (collect, decide, act):
        p.close()


def _run_in_thread(p: Pipeline) -> threading.Thread:
    t = threading.Thread(target=p.run, daemon=True)
    t.start()
    return t


def test_kafka_broker_restart_pipeline_resumes(kafka_cfg, tmp_path, service_control):
    stop, start = service_control
    expected = expected_alerts(tmp_path)
    cfg = fast_cfg(kafka_cfg)
    gate = [300]
    src = Trickle(chunk=30, gate=gate)
    p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), collectors=[src], http=False)
    t = _run_in_thread(p)
    try:
        assert wait(lambda: p.rt.counters.get("detect.events") >= 300 * NODES, 60)
        gate[0] = POINTS                       # the rest flows while the broker goes away
        t0 = time.monotonic()
        stop("kafka")
        t1 = time.monotonic()
        time.sleep(2)
        start("kafka")
        t2 = time.monotonic()
        print(f"kafka stop {t1 - t0:.1f}s start {t2 - t1:.1f}s")
        assert wait(lambda: es_view(cfg) == expected, 90), f"ES has {es_view(cfg)}, expected {expected}"
        topics = [cfg.bus.topic_prefix + x for x in ("telemetry", "findings", "alerts")]
        assert wait(lambda: all(committed_all(p.rt.bus, cfg.pipeline.group_prefix + g, [tp]) for g, tp in
                                zip(("detect", "decide", "act"), topics)), 30)
        assert src.at >= POINTS
        print(f"resumed and caught up in {time.monotonic() - t2:.1f}s;",
              {k: v for k, v in p.rt.counters.snapshot().items()
               if k.endswith(("step_failures", "commit_deferred", "consumer_replaced", "handover_checkpoints"))},
              "producer renewed:", getattr(p.rt.producer, "renewed", None))
        # the clients (librdkafka's by default) reconnect and rejoin by themselves: no stage step
        # failed, so no consumer had to be rebuilt by the pipeline
        assert not [k for k, v in p.rt.counters.snapshot().items() if k.endswith(".step_failures") and v]
    finally:
        p.stop()
        t.join(30)
        p.close()


def test_elasticsearch_down_backpressure_then_delivery(kafka_cfg, tmp_path, service_control):
    stop, start = service_control
    expected = expected_alerts(tmp_path)
    cfg = fast_cfg(kafka_cfg)
    gate = [SHIFT - 60]                        # no alert yet
    src = Trickle(chunk=60, gate=gate)
    p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()), collectors=[src], http=False)
    t = _run_in_thread(p)
    try:
        assert wait(lambda: p.rt.counters.get("detect.events") >= (SHIFT - 60) * NODES, 60)
        stop("elasticsearch")
        gate[0] = POINTS                       # the level shift: alerts while the store is down
        c = p.rt.counters
        assert wait(lambda: c.get("detect.findings.baseline/default") > 0, 60)
        # decide keeps going on its cached silences and produces the alerts; act cannot store
        # them: it keeps retrying and does not commit past them — backpressure, not loss
        alerts_topic = cfg.bus.topic_prefix + "alerts"
        act_group = cfg.pipeline.group_prefix + "act"
        assert wait(lambda: sum(p.rt.bus.end_offsets(alerts_topic).values()) > 0, 120)
        time.sleep(10)
        assert not committed_all(p.rt.bus, act_group, [alerts_topic])
        assert es_view(cfg) is None
        start("elasticsearch")
        assert wait(lambda: es_view(cfg) == expected, 90), f"ES has {es_view(cfg)}, expected {expected}"
        assert wait(lambda: committed_all(p.rt.bus, act_group, [alerts_topic]), 30)
        assert es_view(cfg) == expected        # exactly once: alert id = document id
    finally:
        p.stop()
        t.join(30)
        p.close()
