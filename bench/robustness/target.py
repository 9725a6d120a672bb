"""The server under attack: `warden run` in a child process (embedded bus, SQLite, every HTTP
collector), its RSS, its counters (scraped from /metrics) and its log."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

CONFIG = """\
data_dir: {data_dir}
http: {{enabled: true, host: 127.0.0.1, port: {port}, max_body_bytes: 4194304, parser: {parser}, loop: {loop}{extra}}}
collectors:
  otlp/default: {{}}
  http_ingest/default: {{}}
  k8s_audit_webhook/default: {{}}
  guard/default: {{}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER_NICE = 10


def _lower_and_pin(cpus: set[int] | None) -> None:
    """The server's process: nice 10 (like the bench: `nice -n 10 python -m bench.robustness` keeps
    it there; `os.nice` adds, so lowering by 10 again would put it at 19, below the attackers), and
    on `cpus` alone when the bench splits them."""
    os.nice(max(0, SERVER_NICE - os.nice(0)))
    if cpus:
        os.sched_setaffinity(0, cpus)


def http_extra(attacker_token: str | None) -> str:
    """The `http:` settings beyond the defaults: another client's token for the attackers (every
    scope, so every route is reachable) with the shipped rate limits and per-client fairness; or,
    with no attacker token (the attackers share the good client's token and address), the rate
    limit off, as no limit could separate them."""
    if attacker_token is None:
        return ", rate_limit_rps: 0"
    return f", tokens: {{attacker: {{token: '{attacker_token}', scopes: [ingest, guard, read, admin]}}}}"


class Target:
    def __init__(self, workdir: Path, token: str, parser: str = "auto", loop: str = "auto",
                 cpus: set[int] | None = None, attacker_token: str | None = None, http: list[str] = ()) -> None:
        self.workdir, self.token = workdir, token
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        conf = workdir / "warden.yaml"
        conf.write_text(CONFIG.format(data_dir=workdir / "data", port=self.port, parser=parser, loop=loop,
                                      extra=http_extra(attacker_token) + "".join(", " + kv.replace("=", ": ", 1)
                                                                                 for kv in http)))
        self.log_path = workdir / "server.log"
        env = {**os.environ, "WARDEN_HTTP_TOKEN": token, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", "from agent.cli import main; main()", "-c", str(conf), "run"],
                                     stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT, env=env,
                                     preexec_fn=lambda: _lower_and_pin(cpus))
        self.ps = psutil.Process(self.proc.pid)
        self.peak_rss = 0
        self._cpu_last = 0.0

    def wait_ready(self, timeout: float = 240.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("server not ready in time")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> int:
        r = self.ps.memory_info().rss
        self.peak_rss = max(self.peak_rss, r)
        return r

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process used so far (the last reading once it is gone)."""
        try:
            c = self.ps.cpu_times()
        except psutil.Error:
            return self._cpu_last
        self._cpu_last = c.user + c.system
        return self._cpu_last

    def counters(self) -> dict[str, float]:
        text = requests.get(self.base + "/metrics", headers={"Authorization": f"Bearer {self.token}"}, timeout=30).text
        out: dict[str, float] = {}
        for line in text.splitlines():
            m = re.match(r'^(warden_\w+_total)\{detail="([^"]*)",stage="([^"]*)"\} (\S+)$', line)
            if m:
                key = f"{m.group(3)}.{m.group(1)[7:-6]}" + (f".{m.group(2)}" if m.group(2) else "")
                out[key] = float(m.group(4))
        return out

    def logged(self, pattern: str) -> int:
        return len(re.findall(pattern, self.log_path.read_text(errors="replace")))

    def errors(self) -> dict[str, int]:
        """Exception types that ended a traceback in the server log, with counts."""
        out: dict[str, int] = {}
        for m in re.finditer(r"^(\w+(?:Error|Exception|Exit)): ", self.log_path.read_text(errors="replace"), re.M):
            out[m.group(1)] = out.get(m.group(1), 0) + 1
        return out

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
