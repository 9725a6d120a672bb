"""Robustness benchmark: >= 20,000 hostile inputs at every HTTP route of a running `warden run`
and through every `warden replay` input format.

    nice -n 10 python -m bench.robustness [--generated 16000] [--replay-per-format 500] [--seed 7]

Prints: answers by status (goal: no 5xx), the 5xx by input class with examples, server crashes
(goal 0), records neither processed nor dead-lettered (goal 0: from the ingest answers' counts
against the server's own counters, and per replayed record), server RSS before/after/peak, and the
p50/p99 latency of a good client's ingest requests while idle and while under attack (goal: p99
within 2x), with 200 slow clients held open during the attack. Attack windows alternate with idle
windows of the same length (`--window-s`), so both phases see the same load of a shared machine;
the attacker threads run `--attacker-nice` levels below the server and the good client (attackers
on other machines would not take the server's CPU); the attack rate achieved (requests/s during
attack windows) is printed with the latencies.

Attacker model: hostile traffic comes from other clients. The attackers and the slow clients connect
from other loopback addresses (127.0.0.2, 127.0.0.3, ...: one per attacker thread, or
`--attacker-addresses N`) with a token of their own (every scope), and the server runs with the
shipped rate limits and per-client fairness; the good client connects from 127.0.0.1 with its own
token. `--same-identity` is the earlier model: the attackers use the good client's address and
token and the rate limit is off (no limit could separate them). The bench prints how many attack
requests the rate limit refused (`http.rate_limited`) and how many of those the tarpit held
(`http.throttled`): with the shipped `rate_limit_error_cost` the attackers' failing requests spend
their budget five times as fast.
"""
from __future__ import annotations

import argparse
import gc
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import requests

from bench.robustness import http_attack, plan, replay_attack
from bench.robustness.prober import Prober
from bench.robustness.target import Target


def _delta(c0: dict[str, float], c1: dict[str, float], key: str) -> float:
    """How much the server's counter `key` grew between two scrapes."""
    return c1.get(key, 0) - c0.get(key, 0)


def _p(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) * 1000 if xs else float("nan")


class Windows:
    """Alternates attack windows with idle ones of the same length (`window_s`; 0: one attack
    window, no idle ones), so that idle and attack latencies are sampled at the same times of a
    shared machine's load. Between them, the attack is paused and its requests in flight are
    answered, the slow clients close, and the server gets a second to settle ('drain', measured
    in neither phase). `cpu()` (CPU seconds so far: the server's, and other processes' on its
    CPU) is read at each change: the CPU in attack windows (with their drains) and in idle windows."""

    def __init__(self, window_s: float, cpu) -> None:
        self.window_s, self.cpu = window_s, cpu
        self.attack_s = self.idle_s = 0.0
        self.attack_wall = 0.0
        self.attack_cpu, self.idle_cpu = cpu() * 0, cpu() * 0     # cpu() may be a vector of readings

    def alternate(self, attacker: threading.Thread, gate, slow, prober) -> None:
        t, c = time.monotonic(), self.cpu()
        attacker.join(self.window_s or None)
        self.attack_s += time.monotonic() - t
        if not attacker.is_alive() or not self.window_s:
            self.attack_cpu += self.cpu() - c
            self.attack_wall += time.monotonic() - t
            return
        prober.phase = "drain"
        slow.paused.set()
        gate.close()
        time.sleep(1.0)
        self.attack_cpu += self.cpu() - c
        self.attack_wall += time.monotonic() - t
        prober.phase = "idle"
        t, c = time.monotonic(), self.cpu()
        time.sleep(self.window_s)
        self.idle_s += time.monotonic() - t
        self.idle_cpu += self.cpu() - c
        prober.phase = "attack"
        slow.paused.clear()
        gate.open()

    def attack_cpu_s(self) -> float:
        """The server's CPU seconds the attack cost: CPU in attack windows less what the same time
        costs idle (the good client, the pipeline's timers)."""
        idle_rate = self.idle_cpu / self.idle_s if self.idle_s else 0.0
        return self.attack_cpu - idle_rate * self.attack_wall


def cpus_busy_s(cpus: set[int]) -> float:
    """CPU seconds the machine's `cpus` were busy so far (every process; /proc/stat, Linux)."""
    hz = os.sysconf("SC_CLK_TCK")
    busy = 0
    with open("/proc/stat") as f:
        for line in f:
            name, *ticks = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                user, nice_, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in ticks[:8])
                busy += user + nice_ + system + irq + softirq + steal
    return busy / hz


def split_cpus() -> tuple[set[int], set[int]]:
    """(server + good client CPUs, attacker CPUs): the first allowed CPU and the rest."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--split-cpus needs at least 2 CPUs")
    return {cpus[0]}, set(cpus[1:])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generated", type=int, default=16_000, help="generated HTTP inputs (hand-picked come on top)")
    ap.add_argument("--replay-per-format", type=int, default=500, help="0: no replay (HTTP only)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--slow-clients", type=int, default=200)
    ap.add_argument("--workers", type=int, default=4, help="concurrent attackers")
    ap.add_argument("--attacker-nice", type=int, default=5,
                    help="attacker threads run this many nice levels below the server and the good client, as "
                         "attackers on other machines would not take the server's CPU (0: same priority)")
    ap.add_argument("--idle-probes", type=int, default=300, help="good requests before the attack starts")
    ap.add_argument("--probe-interval-ms", type=float, default=50.0,
                    help="the good client sends one ingest every this many ms (10: five times the samples for the "
                         "p99, still within its rate limit)")
    ap.add_argument("--window-s", type=float, default=5.0,
                    help="alternate attack and idle windows of this length (0: attack in one go)")
    ap.add_argument("--log", help="copy the server's log here")
    ap.add_argument("--parser", default="auto", choices=("auto", "h11", "httptools"), help="the server's http.parser")
    ap.add_argument("--loop", default="auto", choices=("auto", "asyncio", "uvloop"), help="the server's http.loop")
    ap.add_argument("--attacker-addresses", type=int, default=0,
                    help="loopback addresses the attackers and slow clients connect from (127.0.0.2, ...; 0: one "
                         "per attacker thread)")
    ap.add_argument("--same-identity", action="store_true",
                    help="the old attacker model: attackers connect from the good client's address (127.0.0.1) "
                         "with its token, and the server's rate limit is off (nothing could separate them)")
    ap.add_argument("--http", action="append", default=[], metavar="KEY=VALUE",
                    help="another `http:` setting of the server under attack (repeatable), e.g. handler_threads=4")
    ap.add_argument("--split-cpus", action="store_true",
                    help="run the server and the good client on the first CPU and the attackers on the others "
                         "(attackers elsewhere do not take the server's CPU); needs 2+ CPUs")
    ap.add_argument("--good-client-cpus", default="server", choices=("server", "attackers"),
                    help="with --split-cpus: the good client shares the server's CPU (default) or the attackers' "
                         "(where it runs 5 nice levels above them)")
    ap.add_argument("--attack-classes", default="",
                    help="comma-separated input classes (substrings of the class names printed per class, e.g. "
                         "'gzip bomb,deep nesting'): only those are sent, cycled to --attack-count requests (to "
                         "find which class costs the good client its tail)")
    ap.add_argument("--attack-count", type=int, default=0,
                    help="with --attack-classes: requests to send (0: the selected inputs once)")
    ap.add_argument("--good-log", help="write every good request here (CSV: wall-clock time sent, ms, phase)")
    a = ap.parse_args()
    server_cpus, attack_cpus = split_cpus() if a.split_cpus else (None, None)
    load0 = os.getloadavg()
    token = secrets.token_hex(16)
    if a.same_identity:
        who = http_attack.Identity(token)
    else:
        who = http_attack.Identity(secrets.token_hex(16), http_attack.loopback_sources(a.attacker_addresses or a.workers))
    with tempfile.TemporaryDirectory(prefix="warden-robust-") as tmp:
        work = Path(tmp)
        t = Target(work, token, a.parser, a.loop, server_cpus, None if a.same_identity else who.token, a.http)
        try:
            t.wait_ready()
            host, port = "127.0.0.1", t.port
            doc = requests.get(t.base + "/openapi.json", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
            routes = [(m.upper(), p) for p, item in doc["paths"].items() for m in item]
            print(f"routes ({len(routes)}): " + ", ".join(f"{m} {p}" for m, p in sorted(routes, key=lambda r: r[1])))
            attacks = plan.build(routes, a.generated, a.seed)
            if a.attack_classes:
                attacks = plan.select(attacks, a.attack_classes.split(","), a.attack_count)
                print("attack classes: " + ", ".join(sorted({x.kind for x in attacks})))
            print(f"HTTP inputs: {len(attacks)}")
            print("attackers: " + ("the good client's address and token, rate limit off" if a.same_identity else
                                   f"their own token, from {', '.join(who.sources)}; the shipped rate limits and "
                                   "per-client fairness"))
            good = plan.good_request(token)
            warm = http_attack.send(good, host, port, token)
            assert warm[0] == 200, f"the good request is refused: {warm}"
            prober = Prober(good, host, port, token, a.probe_interval_ms / 1000)
            prober.start(attack_cpus if a.good_client_cpus == "attackers" else server_cpus)
            if attack_cpus:
                os.sched_setaffinity(0, attack_cpus)         # this process: attackers, slow clients, replay
                print(f"CPUs split: server and good client on {sorted(server_cpus)}, attackers on {sorted(attack_cpus)}")
            while prober.count("idle") < a.idle_probes and t.alive():
                time.sleep(0.2)
            c0, rss0, cpu0 = t.counters(), t.rss(), t.cpu_s()
            idle_before = prober.count("idle")
            slow = http_attack.SlowClients(host, port, who, a.slow_clients, a.attacker_nice)
            slow.start()
            prober.phase = "attack"
            t0 = time.monotonic()
            sampler_stop = False

            def sample():
                while not sampler_stop and t.alive():
                    t.rss()
                    time.sleep(1)
            threading.Thread(target=sample, daemon=True).start()
            gate = http_attack.Gate()
            result: list[http_attack.Outcome] = []
            attacker = threading.Thread(target=lambda: result.append(
                http_attack.attack(attacks, host, port, who, a.workers, gate, a.attacker_nice)), daemon=True)
            attacker.start()
            ours = [t.ps, psutil.Process(prober.pid)] if a.good_client_cpus == "server" else [t.ps]

            def server_and_others() -> np.ndarray:
                """CPU seconds so far: the server's; other processes' on the server's CPU (split CPUs)."""
                own = sum(sum(p.cpu_times()[:2]) for p in ours) if t.alive() else 0.0
                return np.array([t.cpu_s(), cpus_busy_s(server_cpus) - own if server_cpus else 0.0])
            windows = Windows(a.window_s, server_and_others)
            while attacker.is_alive():
                windows.alternate(attacker, gate, slow, prober)
            attacker.join()
            out = result[0]
            took = time.monotonic() - t0
            slow.stop_event.set()
            prober.stop()
            sampler_stop = True
            time.sleep(3)                                    # let the collect stage flush
            alive = t.alive()
            c1 = t.counters() if alive else {}
            rss1 = t.rss() if alive else 0
            cpu1 = t.cpu_s() if alive else cpu0
            attack_wall = max(windows.attack_wall, 1e-9)
            if server_cpus:
                print(f"other processes on the server's CPU (not the server{', not the good client' if len(ours) > 1 else ''}): "
                      f"{windows.attack_cpu[1] / attack_wall:.0%} of it in attack windows, "
                      f"{windows.idle_cpu[1] / max(windows.idle_s, 1e-9):.0%} in idle windows")
        finally:
            t.stop()
            handler_failures = t.logged(r"handler failed")
            tracebacks = t.logged(r"Traceback")
            errors = t.errors()
            if a.log:
                shutil.copyfile(t.log_path, a.log)
        if a.good_log:
            Path(a.good_log).write_text("".join(f"{s:.6f},{d * 1000:.3f},{ph}\n" for s, d, ph in prober.trace))
        gc.collect()
        formats = plan.seeds()
        from collectors.formats import all_formats
        for f in all_formats():
            formats.setdefault(f, [])
        r = (replay_attack.run(formats, a.replay_per_format, a.seed, work / "replay") if a.replay_per_format > 0
             else replay_attack.ReplayOutcome())

    fivexx = sum(v for k, v in out.codes.items() if isinstance(k, int) and k >= 500) - out.not_ready
    d_events, d_dead = _delta(c0, c1, "collect.events"), _delta(c0, c1, "collect.deadletter")
    lost_http = max(0.0, out.claimed_dead - d_dead) + max(0.0, out.claimed_accepted - d_events)
    refused_without_letter = max(0.0, out.handler_refusals - max(0.0, d_dead - out.claimed_dead))
    total = out.sent + slow.opened + r.files
    print(f"\ninputs: {total} = {out.sent} HTTP requests + {slow.opened} slow-client connections + "
          f"{r.files} replay files ({r.records} records) in {took:.0f} s: {windows.attack_s:.0f} s of attack "
          f"({out.sent / max(windows.attack_s, 1e-9):.0f} requests/s from {a.workers} attackers at nice +{a.attacker_nice}, with "
          f"{a.slow_clients} slow clients held) alternating with {windows.idle_s:.0f} s idle")
    print("HTTP answers: " + ", ".join(f"{k}={v}" for k, v in sorted(out.codes.items(), key=lambda kv: str(kv[0]))))
    print(f"refused by the rate limit (http.rate_limited): {_delta(c0, c1, 'http.rate_limited'):.0f}, of which held "
          f"by the tarpit (http.throttled): {_delta(c0, c1, 'http.throttled'):.0f}")
    print(f"5xx answers (not counting /readyz's 503): {fivexx}" + ("" if not fivexx else " by class: " + dict(out.by_kind_5xx).__repr__()))
    for e in out.examples_5xx:
        print(f"  {e}")
    print(f"/readyz answered 503 (not ready) {out.not_ready} times: {dict(out.not_ready_why.most_common(3))}")
    print(f"server crashes/restarts: {0 if alive else 1}; handler failures logged: {handler_failures}; "
          f"tracebacks in the server log: {tracebacks} {errors}")
    print(f"ingest answers: accepted {out.claimed_accepted}, dead-lettered {out.claimed_dead}, refused by a handler "
          f"(4xx) {out.handler_refusals}; server counters: +{d_events:.0f} events, +{d_dead:.0f} dead letters")
    print(f"records neither processed nor dead-lettered: HTTP {lost_http:.0f} (answers vs counters), "
          f"handler 4xx without a dead letter {refused_without_letter:.0f}; replay {r.silent} "
          f"(crashes {len(r.crashes)}: {r.crashes[:5]}); replay records {r.records}: events {r.events}, "
          f"dead letters {r.dead}")
    print("load average (1, 5, 15 min) at the start: %.2f %.2f %.2f, at the end: %.2f %.2f %.2f"
          % (*load0, *os.getloadavg()))
    print(f"server CPU from the attack's start to its end (attack and idle windows, the pipeline's stages "
          f"included): {cpu1 - cpu0:.1f} s, {(cpu1 - cpu0) / max(out.sent, 1) * 1000:.2f} ms per attack request; "
          f"in attack windows {windows.attack_cpu[0] / max(windows.attack_wall, 1e-9):.0%} of a core, in idle windows "
          f"{windows.idle_cpu[0] / max(windows.idle_s, 1e-9):.0%}; the attack's own (attack windows less the idle rate): "
          f"{windows.attack_cpu_s()[0] / max(out.sent, 1) * 1000:.2f} ms per attack request")
    print(f"server RSS: before {rss0 / 2**20:.0f} MiB, after {rss1 / 2**20:.0f} MiB, peak {t.peak_rss / 2**20:.0f} MiB")
    idle, hot = prober.lat["idle"], prober.lat["attack"]
    before = idle[:idle_before]
    print(f"good client: idle p50 {_p(idle, 50):.1f} ms p99 {_p(idle, 99):.1f} ms (n={len(idle)}; before the attack "
          f"alone p99 {_p(before, 99):.1f} ms, n={len(before)}); under attack p50 {_p(hot, 50):.1f} ms p99 "
          f"{_p(hot, 99):.1f} ms (n={len(hot)}); ratio p99 {_p(hot, 99) / _p(idle, 99):.2f}x; "
          f"failed good requests: {dict(prober.failures)}")
    return 0 if (fivexx == 0 and alive and not r.crashes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
