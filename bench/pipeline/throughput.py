"""End-to-end pipeline benchmarks on the real Kafka (and Elasticsearch for latency). Prints figures.

    PYTHONPATH=. .venv/bin/python -m bench.pipeline.throughput [--events 200000] [--audit-ratio 0.2]
        [--detectors baseline,sigma] [--skip pipeline,scale,latency] [--rate 5000] [--latency-seconds 20]
        [--producer confluent|kafka-python] [--consumer confluent|kafka-python]   (default: warden's, confluent)

1. pipeline: collect → detect → decide through Kafka (one process, each stage on its own thread as
   in production: Pipeline.run), metric and audit events mixed; events/s wall and events per CPU-second of the process
   (time.process_time: every thread, including kafka-python's IO threads and librdkafka's), and
   the CPU seconds of each thread. Before timing, throwaway detector instances process a sample
   (numba kernels loaded, lazy imports done: a long-running stage's steady state).
2. raw: kafka-python KafkaConsumer reading the same input topics (same run, right after) without
   decoding: events/s and per CPU-second. Ratio = pipeline / raw.
3. scale: the detect stage alone as 1 then 2 replica processes (one consumer group each, shared
   Kafka state topic) over the same topics: wall time to commit everything; speed-up 2 vs 1.
4. latency: detect, decide, act (threads, Pipeline.run) with the Elasticsearch store; a separate
   process produces --rate events/s (event time = produce time, anomalies injected); the latency of each alert
   write = bulk acknowledged by Elasticsearch − event time of the alert's last event; p50/p99.

Goals (issue 7): pipeline >= 50% of raw consume and >= 30,000 events/s per core; 2 replicas >=
1.8x one; latency p50 <= 200 ms, p99 <= 1 s at 5,000 events/s. On a shared 2-core machine the
scale figure is bounded by the cores other processes leave free: the bench prints the load.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import statistics
import tempfile
import threading
import time
import uuid

KAFKA = os.environ.get("WARDEN_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
ES = os.environ.get("WARDEN_ES_URL", "http://127.0.0.1:9200")


from agent.config import BusConfig as _Bus

PRODUCER = _Bus.producer_client     # warden's defaults unless --producer / --consumer say otherwise
CONSUMER = _Bus.consumer_client


def make_config(prefix: str, data_dir: str, detectors: list[str], store: str = "sqlite", state: str = "sqlite",
                batch: int = 2000, interval: float = 1.0):
    from agent.config import parse
    return parse({
        "data_dir": data_dir,
        "bus": {"type": "kafka", "bootstrap": KAFKA, "topic_prefix": prefix, "partitions": 4,
                "max_poll_records": batch, "linger_ms": 5, "producer_client": PRODUCER,
                "consumer_client": CONSUMER},
        "store": {"type": store, "hosts": [ES], "index_prefix": "warden-" + prefix.rstrip(".")},
        "pipeline": {"group_prefix": prefix + "g-", "batch_size": batch, "checkpoint_interval_s": interval,
                     "state": state},
        "detectors": {f"{d}/default": {} for d in detectors},
    }, "<bench>")


def audit_records():
    from bench.audit.throughput import _SYNTH
    return [rec for fmt, rec in _SYNTH if fmt == "cloudtrail"] or [_SYNTH[0][1]]


def make_events(n: int, audit_ratio: float, entities: int = 200, seed: int = 1, t0: float = 1.7e9,
                principals: int = 0):
    """Metric series per entity (with a few level shifts) and CloudTrail-shaped audit events.
    The synthetic CloudTrail records name two principals (entities), both on one of 4 partitions,
    so one detect replica gets every audit event; `principals` > 0 spreads them over that many
    principals per record (the arn gets one of `principals` suffixes), as on a real account."""
    import copy

    from core.event import Event
    from collectors.formats import parse_record
    rng = random.Random(seed)
    recs = audit_records()
    out = []
    n_audit = int(n * audit_ratio)
    every = max(1, int(1 / audit_ratio)) if audit_ratio > 0 else 0
    step = 0
    for i in range(n):
        if every and i % every == 0 and n_audit > 0:
            rec = copy.deepcopy(rng.choice(recs))
            rec["eventID"] = f"ev-{i}"
            rec["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + i))
            rec["sourceIPAddress"] = f"10.0.{rng.randrange(4)}.{rng.randrange(250)}"
            if principals and isinstance(rec.get("userIdentity"), dict) and rec["userIdentity"].get("arn"):
                rec["userIdentity"]["arn"] += f"-{(i // every) % principals}"   # the audit event's ordinal
            out.extend(parse_record(rec, "cloudtrail", "bench/audit"))
            n_audit -= 1
            continue
        e = step % entities
        k = step // entities
        v = 50 + rng.gauss(0, 1) + (40 if (e % 50 == 0 and k > 300) else 0)
        out.append(Event(id=f"m{step}", time=t0 + 10 * k, kind="metric", source="bench/metric", entity=f"node-{e}",
                         name="gpu.utilization", value=v, observed_time=t0))
        step += 1
    return out


class ListCollector:
    """Feeds pre-built events to the collect stage, `chunk` per call (not a registered component)."""
    name = "bench/list"
    bounded = False
    finished = False

    def __init__(self, events, chunk=2000):
        self.events, self.chunk, self.at = events, chunk, 0
        self.emitter = None

    def bind(self, emitter):
        self.emitter = emitter

    def start(self):
        pass

    def routes(self):
        return {}

    def run_once(self):
        evs = self.events[self.at:self.at + self.chunk]
        self.at += len(evs)
        emit = self.emitter.emit
        for e in evs:
            emit(e)
        return len(evs)

    def close(self):
        pass


def _drop_topics(cfg, prefix: str) -> None:
    """The run's topics (hundreds of thousands of records) go when it ends: a broker left with
    thousands of partitions from earlier runs is slower and noisier to measure against."""
    from core.bus.kafka import KafkaBus
    try:
        n = KafkaBus(cfg.bus).delete_topics(prefix)
        print(f"  (deleted the run's {n} topics {prefix}*)")
    except Exception as e:  # noqa: BLE001 - cleanup is best effort
        print(f"  (could not delete the run's topics {prefix}*: {e})")


# ----------------------------------------------------------------------------- 1 + 2
def _thread_cpu() -> dict[str, float]:
    """CPU seconds per thread of this process, by name (Python threads by their name, native ones
    — librdkafka's rdk:* — by their comm), from /proc; {} where /proc is not there."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        name = names.get(int(tid), comm)
        if name.startswith("rdk:"):
            name = "librdkafka"
        elif name.startswith("kafka-"):
            name = "kafka-python io"
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every core (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return (sum(vals[:8]) - idle) / tick, sum(vals[:8]) / tick


def _cpu_split(before: dict[str, float], after: dict[str, float]) -> str:
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    d = {k: v for k, v in sorted(d.items(), key=lambda kv: -kv[1]) if v >= 0.05}
    return ", ".join(f"{k} {v:.1f}s" for k, v in d.items())


def warm_up(cfg, events, n: int = 4000) -> float:
    """One-time process start costs out of the timed run, as in a long-running stage: throwaway
    instances of the configured detectors process a sample, so numba loads (or compiles) its
    kernels and lazily imported modules are imported. The pipeline's own detectors start cold
    (empty state). Returns the seconds it took."""
    from core import registry
    t = time.perf_counter()
    sample = events[:n]
    for name, opts in cfg.detectors.items():
        d = registry.create("detector", name, opts)
        d.start()
        mine = [e for e in sample if d.accepts(e)]
        if mine:
            d.process(mine)
        d.close()
    # the bench's prebuilt input (every event of the run, in one list) does not exist in production:
    # moved out of the garbage collector's scans before timing, so the collection the pipeline does
    # when it starts (core.memory) and its full collections do not walk it
    import gc
    gc.collect()
    gc.freeze()
    return time.perf_counter() - t


def bench_pipeline(cfg, events):
    """The production shape: each stage on its own thread (Pipeline.run); done when detect has
    handled every event and decide has caught up with every finding."""
    from core.counters import Counters
    from agent.pipeline import Pipeline
    from agent.runtime import Runtime
    warm = warm_up(cfg, events)
    n = len(events)
    counters = Counters()
    src = ListCollector(events, chunk=5000)
    p = Pipeline(cfg, stages=("collect", "detect", "decide"), runtime=Runtime(cfg, counters=counters),
                 collectors=[src], http=False)
    c0, t0, th0 = time.process_time(), time.perf_counter(), _thread_cpu()
    t = threading.Thread(target=p.run, daemon=True)
    t.start()
    while counters.get("detect.events") + counters.get("detect.deadletter") < n:
        time.sleep(0.01)
    t_detect = time.perf_counter() - t0
    while True:
        f = sum(v for k, v in counters.snapshot().items() if k.startswith("detect.findings."))
        if counters.get("decide.records") >= f:
            break
        time.sleep(0.01)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    split = _cpu_split(th0, _thread_cpu())
    batches = {st.name: st._batch_hist.count for st in p.stages if st.name != "collect"}
    episodes = sum(len(getattr(st, "open", ())) for st in p.stages if st.name == "decide")
    p.stop()
    t.join(30)
    snap = counters.snapshot()
    p.close()
    return {"events": n, "wall_s": wall, "cpu_s": cpu, "eps": n / wall, "eps_per_core": n / cpu,
            "detect_done_s": t_detect, "cpu_split": split, "warm_up_s": warm, "detect_batches": batches.get("detect", 0),
            "findings": sum(v for k, v in snap.items() if k.startswith("detect.findings.")),
            "alerts": episodes, "alert_updates": snap.get("decide.alerts_firing", 0),
            "deadletters": snap.get("detect.deadletter", 0)}


def bench_raw(cfg, n):
    from kafka import KafkaConsumer, TopicPartition
    topics = [cfg.bus.topic_prefix + t for t in ("telemetry", "audit")]
    c = KafkaConsumer(bootstrap_servers=cfg.bus.bootstrap, enable_auto_commit=False, group_id=None,
                      max_poll_records=cfg.bus.max_poll_records, fetch_max_wait_ms=cfg.bus.fetch_max_wait_ms)
    tps = [TopicPartition(t, p) for t in topics for p in (c.partitions_for_topic(t) or ())]
    c.assign(tps)
    ends = c.end_offsets(tps)
    total = sum(ends.values())
    c.seek_to_beginning(*tps)
    got, nbytes = 0, 0
    c0, t0 = time.process_time(), time.perf_counter()
    while got < total:
        for recs in c.poll(timeout_ms=500, max_records=cfg.bus.max_poll_records).values():
            got += len(recs)
            for r in recs:
                nbytes += len(r.value)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    c.close()
    return {"records": got, "wall_s": wall, "cpu_s": cpu, "eps": got / wall, "eps_per_core": got / cpu,
            "mb_s": nbytes / wall / 1e6}


# ----------------------------------------------------------------------------- 1b
def _stage_worker(cfg, stage, build, barrier, stop, out):
    """One stage in its own process (the production shape: `warden run --stage X`, one Deployment
    per stage, with the garbage-collector settings `Pipeline.run` uses); its process CPU and the
    batches it handled from the barrier until stopped. The collect worker builds the input itself
    (`build`: make_events' arguments, same seed) and emits it all; the others step until stopped."""
    import gc

    from core.counters import Counters
    from core.memory import tuned_gc
    from agent.pipeline import Pipeline
    from agent.runtime import Runtime
    counters = Counters()
    collectors = None
    if stage == "collect":
        collectors = [ListCollector(make_events(*build), chunk=5000)]
    p = Pipeline(cfg, stages=(stage,), runtime=Runtime(cfg, counters=counters), collectors=collectors, http=False)
    st = p.stages[0]
    if stage == "detect":
        warm_up(cfg, make_events(4000, 0.2, seed=7))
    gc.collect()
    gc.freeze()                       # the collect worker's prebuilt input, as in bench_pipeline
    st.start()                        # joins the group right before the barrier: replicas join together
    steps: list[tuple[float, int]] = []      # (time a batch was handled, records)
    with tuned_gc(cfg.pipeline.gc_threshold):
        barrier.wait()
        c0 = time.process_time()
        while not stop.is_set():
            try:
                n = st.step(timeout=0.05)
            except Exception:  # noqa: BLE001 - as Pipeline._loop: replay from the last commit
                p._recover(st)
                continue
            if n:
                steps.append((time.time(), n))
            elif stage == "collect":
                st.checkpoint()
                out.put({"stage": "collect", "done": True})
                break
        cpu = time.process_time() - c0
        if stage == "collect":
            stop.wait()
        elif stage == "detect":
            try:
                st.checkpoint()
            except Exception:  # noqa: BLE001 - the figures are taken; the run ends either way
                pass
    out.put({"stage": stage, "cpu_s": cpu, "counters": counters.snapshot(), "steps": steps})
    p.close()


def _wait_committed(bus, group: str, topics: list[str], every: float = 0.05) -> None:
    """Until `group` has committed every record the topics hold now."""
    ends = {t: bus.end_offsets(t) for t in topics}
    while True:
        com = {t: bus.committed(group, t) for t in topics}
        if all(com[t].get(p, 0) >= o for t in topics for p, o in ends[t].items()):
            return
        time.sleep(every)


def bench_pipeline_processes(cfg, n: int, build: tuple):
    """collect, detect and decide each in its own process (as deployed: deploy/k8s has one
    Deployment per stage): wall time from the start until decide has committed every finding
    detect produced; CPU = the three processes' CPU seconds over the same time."""
    import dataclasses

    from core.bus.kafka import KafkaBus
    # its own topics, groups and state: nothing of the threaded run is read again
    cfg = dataclasses.replace(cfg, data_dir=os.path.join(cfg.data_dir, "procs"))
    cfg.pipeline = dataclasses.replace(cfg.pipeline, group_prefix=cfg.pipeline.group_prefix + "procs-")
    cfg.bus = dataclasses.replace(cfg.bus, topic_prefix=cfg.bus.topic_prefix + "procs.")
    stages = ("collect", "detect", "decide")
    ctx = mp.get_context("spawn")
    barrier, stop, out = ctx.Barrier(len(stages) + 1), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_stage_worker, args=(cfg, st, build, barrier, stop, out), daemon=True)
             for st in stages]
    for pr in procs:
        pr.start()
    barrier.wait(timeout=180)
    t0 = time.perf_counter()
    msg = out.get(timeout=600)
    assert msg.get("done"), msg
    t_collect = time.perf_counter() - t0
    bus = KafkaBus(cfg.bus)
    _wait_committed(bus, cfg.pipeline.group_prefix + "detect", [cfg.bus.topic_prefix + t for t in ("telemetry", "audit")])
    t_detect = time.perf_counter() - t0
    _wait_committed(bus, cfg.pipeline.group_prefix + "decide", [cfg.bus.topic_prefix + "findings"])
    wall = time.perf_counter() - t0
    stop.set()
    res = {}
    for _ in stages:
        r = out.get(timeout=60)
        res[r["stage"]] = r
    for pr in procs:
        pr.join(30)
    bus.close()
    cpu = sum(r["cpu_s"] for r in res.values())
    snap = res["detect"]["counters"]
    return {"events": n, "wall_s": wall, "cpu_s": cpu, "eps": n / wall, "eps_per_core": n / cpu,
            "collect_done_s": t_collect, "detect_done_s": t_detect,
            "cpu_split": ", ".join(f"{k} {r['cpu_s']:.1f}s" for k, r in res.items()),
            "findings": sum(v for k, v in snap.items() if k.startswith("detect.findings.")),
            "deadletters": snap.get("detect.deadletter", 0)}


# ----------------------------------------------------------------------------- 3
def bench_scale(cfg, replicas: int, n_expected: int):
    import dataclasses

    from core.bus.kafka import KafkaBus
    cfg = dataclasses.replace(cfg)
    cfg.pipeline = dataclasses.replace(cfg.pipeline, group_prefix=cfg.pipeline.group_prefix + f"r{replicas}-",
                                       state="kafka")
    # heartbeats every 0.5 s (warden's default: 3 s): a member learns of a rebalance at its next
    # heartbeat, so the second replica gets its partitions within a second instead of ~3 s of a
    # run that lasts a few seconds
    cfg.bus = dataclasses.replace(cfg.bus, kafka={**(cfg.bus.kafka or {}), "heartbeat_interval_ms": 500})
    ctx = mp.get_context("spawn")
    barrier, stop, out = ctx.Barrier(replicas + 1), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_stage_worker, args=(cfg, "detect", None, barrier, stop, out), daemon=True)
             for _ in range(replicas)]
    for pr in procs:
        pr.start()
    barrier.wait(timeout=120)
    t0, m0 = time.perf_counter(), _machine_cpu()
    bus = KafkaBus(cfg.bus)
    _wait_committed(bus, cfg.pipeline.group_prefix + "detect", [cfg.bus.topic_prefix + t for t in ("telemetry", "audit")],
                    every=0.25)
    wall, m1 = time.perf_counter() - t0, _machine_cpu()
    bus.close()
    stop.set()
    res = [out.get(timeout=60) for _ in procs]
    for pr in procs:
        pr.join(30)
    for r in res:            # first and last batch handled, events, checkpoints: from the worker's record
        r["first"], r["last"] = (r["steps"][0][0], r["steps"][-1][0]) if r["steps"] else (0.0, 0.0)
        r["events"] = r["counters"].get("detect.events", 0)
        r["checkpoints"] = r["counters"].get("detect.checkpoints", 0)
    handled = sum(r["events"] for r in res)
    firsts = [r["first"] for r in res if r["first"]]
    active = max(r["last"] for r in res) - min(firsts) if firsts else float("nan")
    # the rate while every replica was handling records: the group's capacity, without the join
    # (a replica that joins later takes its partitions over in a rebalance) and the tail
    both = len(firsts) == replicas
    w0 = max(firsts) if both else float("nan")
    w1 = min(r["last"] for r in res) if both else float("nan")
    in_window = sum(n for r in res for t, n in r["steps"] if w0 < t <= w1) if both else 0
    # batch granularity: a window under a second says little
    concurrent = in_window / (w1 - w0) if both and w1 - w0 >= 1.0 else float("nan")
    return {"replicas": replicas, "wall_s": wall, "eps": n_expected / wall, "handled": handled,
            "cpu_s": sum(r["cpu_s"] for r in res), "active_s": active, "active_eps": n_expected / active,
            "machine_busy": (m1[0] - m0[0]) / max(1e-9, m1[1] - m0[1]),
            "checkpoints": [r["checkpoints"] for r in res], "concurrent_eps": concurrent,
            "concurrent_s": (w1 - w0) if both else 0.0, "per_replica": [r["events"] for r in res]}


# ----------------------------------------------------------------------------- 4
def _paced_producer(cfg, rate, seconds, entities, spike_every, warm_s, ready, go):
    """Its own process (as the collect stage is in production): `rate` metric events/s with event
    time = now, a spike on one entity every `spike_every` s after `warm_s`."""
    from core import codec
    from core.bus.kafka import KafkaBus
    from core.event import Event
    bus = KafkaBus(cfg.bus)
    prod = bus.producer()
    topic = cfg.bus.topic_prefix + "telemetry"
    rng = random.Random(3)
    ready.set()
    go.wait()
    t0 = time.time()
    sent, next_spike = 0, t0 + warm_s
    while True:
        now = time.time()
        if now - t0 > seconds:
            break
        due = int((now - t0) * rate) - sent
        for _ in range(max(0, due)):
            e = sent % entities
            v = 50 + rng.gauss(0, 1)
            if now >= next_spike and e % 7 == 0:
                v += 60
                next_spike = now + spike_every
            ev = Event(id=f"p{sent}", time=now, kind="metric", source="bench/paced", entity=f"ep-{e}",
                       name="http.server.request.duration", value=v, observed_time=now)
            prod.send(topic, codec.encode(ev), ev.entity.encode())
            sent += 1
        prod.p.flush(timeout=5) if due > 0 else time.sleep(0.002)
    prod.flush()
    prod.close()


def _hop_latencies(cfg) -> str:
    """p50/p90 of (record append time − event time) on the findings and alerts topics."""
    from kafka import KafkaConsumer, TopicPartition

    from core import codec
    c = KafkaConsumer(bootstrap_servers=cfg.bus.bootstrap, group_id=None, enable_auto_commit=False)
    out = []
    try:
        for t, field in (("findings", "time"), ("alerts", "last_seen")):
            topic = cfg.bus.topic_prefix + t
            tps = [TopicPartition(topic, p) for p in (c.partitions_for_topic(topic) or ())]
            if not tps:
                continue
            c.assign(tps)
            c.seek_to_beginning(*tps)
            ends = c.end_offsets(tps)
            vals = []
            deadline = time.monotonic() + 20
            while any(c.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
                for recs in c.poll(500).values():
                    vals.extend(r.timestamp / 1000 - getattr(codec.decode(r.value), field) for r in recs)
            vals.sort()
            if vals:
                out.append(f"{t} n={len(vals)} p50 {vals[len(vals) // 2] * 1000:.0f} ms p90 "
                           f"{vals[int(len(vals) * 0.9)] * 1000:.0f} ms")
    finally:
        c.close()
    return "; ".join(out)


def bench_latency(prefix, rate, seconds, detectors, entities=None):
    entities = entities or max(10, rate // 20)       # ~20 points per entity per second: warm in 2 s
    from core.counters import Counters
    from core.observability import metrics
    from agent.pipeline import Pipeline
    from agent.runtime import Runtime
    samples: list[float] = []
    real = metrics.EVENT_TO_ALERT.observe_many

    def capture(values):
        vals = list(values)
        samples.extend(vals)
        real(vals)
    metrics.EVENT_TO_ALERT.observe_many = capture
    with tempfile.TemporaryDirectory() as d:
        cfg = make_config(prefix, d, detectors, store="elasticsearch", batch=1000, interval=0.2)
        counters = Counters()
        p = Pipeline(cfg, stages=("detect", "decide", "act"), runtime=Runtime(cfg, counters=counters), http=False)
        ctx = mp.get_context("spawn")
        ready, go = ctx.Event(), ctx.Event()
        prod = ctx.Process(target=_paced_producer, args=(cfg, rate, seconds, entities, 0.25, 3.0, ready, go),
                           daemon=True)
        prod.start()
        ready.wait(60)
        p.rt.store.start()
        t = threading.Thread(target=p.run, daemon=True)
        c0 = time.process_time()
        t.start()
        time.sleep(3)                      # consumers joined
        go.set()
        prod.join(seconds + 60)
        time.sleep(3)
        p.stop()
        t.join(30)
        cpu = time.process_time() - c0
        snap = counters.snapshot()
        p.close()
        hops = _hop_latencies(cfg)
    metrics.EVENT_TO_ALERT.observe_many = real
    samples.sort()
    q = (lambda f: samples[min(len(samples) - 1, int(f * len(samples)))] if samples else float("nan"))
    handled = snap.get("detect.events", 0)
    print(f"  hops (append time on the topic − event time): {hops}; topics {prefix}*")
    return {"rate": rate, "handled": handled, "achieved_rate": handled / seconds, "alert_writes": len(samples),
            "p50_ms": q(0.5) * 1000, "p90_ms": q(0.9) * 1000, "p99_ms": q(0.99) * 1000,
            "max_ms": (samples[-1] * 1000 if samples else float("nan")), "cpu_s": cpu}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--audit-ratio", type=float, default=0.2)
    ap.add_argument("--detectors", default="baseline,sigma")
    ap.add_argument("--skip", default="")
    ap.add_argument("--audit-principals", type=int, default=0,
                    help="spread the audit events over this many principals (0: the records' own two)")
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--producer", default=_Bus.producer_client, choices=("kafka-python", "confluent"),
                    help="bus.producer_client for the pipeline's producers")
    ap.add_argument("--consumer", default=_Bus.consumer_client, choices=("kafka-python", "confluent"),
                    help="bus.consumer_client for the pipeline's consumers (the raw baseline is always kafka-python)")
    a = ap.parse_args(argv)
    global PRODUCER, CONSUMER
    PRODUCER, CONSUMER = a.producer, a.consumer
    skip = set(filter(None, a.skip.split(",")))
    detectors = a.detectors.split(",")
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (shared with other work)")
    t = time.perf_counter()
    events = make_events(a.events, a.audit_ratio, principals=a.audit_principals)
    print(f"built {len(events)} events ({a.audit_ratio:.0%} audit, "
          f"{len({e.entity for e in events if e.kind == 'audit'})} principals) in {time.perf_counter() - t:.1f}s; "
          f"detectors {', '.join(detectors)}; producer {PRODUCER}; consumer {CONSUMER}; topics {prefix}*")
    with tempfile.TemporaryDirectory() as d:
        cfg = make_config(prefix, d, detectors)
        if "pipeline" not in skip:
            r = bench_pipeline(cfg, events)
            print(f"pipeline collect→detect→decide: {r['events']} events in {r['wall_s']:.2f}s = {r['eps']:,.0f} ev/s "
                  f"wall, {r['eps_per_core']:,.0f} ev/s per core (cpu {r['cpu_s']:.2f}s); findings {r['findings']:.0f}, "
                  f"open alerts {r['alerts']} ({r['alert_updates']:.0f} alert updates: one per changed alert per decide "
                  f"batch), dead letters {r['deadletters']:.0f}")
            print(f"  warm-up before timing (detector kernels, imports): {r['warm_up_s']:.1f}s; detect done at "
                  f"{r['detect_done_s']:.2f}s")
            print(f"  cpu by thread: {r['cpu_split']}; detect batches {r['detect_batches']} "
                  f"(mean {r['events'] / max(1, r['detect_batches']):,.0f} records)")
            raw = bench_raw(cfg, len(events))
            print(f"raw kafka-python consume (same topics): {raw['records']} records in {raw['wall_s']:.2f}s = "
                  f"{raw['eps']:,.0f} rec/s wall ({raw['mb_s']:.1f} MB/s), {raw['eps_per_core']:,.0f} rec/s per core")
            print(f"ratio pipeline/raw: {r['eps'] / raw['eps']:.1%} wall, {r['eps_per_core'] / raw['eps_per_core']:.1%} "
                  f"per core  (goal >= 50%, and >= 30,000 ev/s per core)")
            if "processes" not in skip:
                q = bench_pipeline_processes(cfg, len(events), (a.events, a.audit_ratio, 200, 1, 1.7e9,
                                                                a.audit_principals))
                print(f"pipeline as deployed, one process per stage: {q['events']} events in {q['wall_s']:.2f}s = "
                      f"{q['eps']:,.0f} ev/s wall, {q['eps_per_core']:,.0f} ev/s per core (cpu {q['cpu_s']:.2f}s: "
                      f"{q['cpu_split']}); collect done at {q['collect_done_s']:.2f}s, detect at "
                      f"{q['detect_done_s']:.2f}s; findings {q['findings']:.0f}, dead letters {q['deadletters']:.0f}")
                print(f"ratio (one process per stage)/raw: {q['eps'] / raw['eps']:.1%} wall, "
                      f"{q['eps_per_core'] / raw['eps_per_core']:.1%} per core")
        if "scale" not in skip:
            if "pipeline" in skip:
                bench_pipeline(cfg, events)
            one = bench_scale(cfg, 1, len(events))
            two = bench_scale(cfg, 2, len(events))
            for r in (one, two):
                print(f"detect x{r['replicas']}: {r['wall_s']:.2f}s to commit everything = {r['eps']:,.0f} ev/s; "
                      f"first to last record handled {r['active_s']:.2f}s = {r['active_eps']:,.0f} ev/s; cpu "
                      f"{r['cpu_s']:.1f}s = {len(events) / r['cpu_s']:,.0f} ev per CPU-second; handled {r['handled']:.0f}"
                      + (" incl. rebalance replays" if r["replicas"] > 1 else "")
                      + f"; per replica {[int(x) for x in r['per_replica']]}"
                      + (f"; while all {r['replicas']} were handling records ({r['concurrent_s']:.2f}s): "
                         f"{r['concurrent_eps']:,.0f} ev/s" if r["replicas"] > 1 else "")
                      + f"; checkpoints {r['checkpoints']}; machine busy {r['machine_busy']:.0%} of its "
                      f"{os.cpu_count()} cores meanwhile")
            print(f"speed-up 2 vs 1: {one['wall_s'] / two['wall_s']:.2f}x to commit everything, "
                  f"{one['active_s'] / two['active_s']:.2f}x first→last record, "
                  f"{two['concurrent_eps'] / one['active_eps']:.2f}x while both replicas were handling records (goal >= 1.8x; load average now "
                  f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores: two replicas need two free cores)")
        _drop_topics(cfg, prefix)
    if "latency" not in skip:
        lat_prefix = f"bench{uuid.uuid4().hex[:8]}."
        try:
            lat = bench_latency(lat_prefix, a.rate, a.latency_seconds, ["baseline"])
        finally:
            _drop_topics(make_config(lat_prefix, tempfile.gettempdir(), ["baseline"]), lat_prefix)
        print(f"latency at {lat['rate']} ev/s (pipeline handled {lat['handled']:.0f} = {lat['achieved_rate']:,.0f} ev/s, "
              f"{lat['alert_writes']} alert writes): event → alert indexed in Elasticsearch p50 {lat['p50_ms']:.0f} ms, "
              f"p90 {lat['p90_ms']:.0f} ms, p99 {lat['p99_ms']:.0f} ms, max {lat['max_ms']:.0f} ms "
              f"(goal p50 <= 200 ms, p99 <= 1 s)")


if __name__ == "__main__":
    main()
