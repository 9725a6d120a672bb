"""Send attacks, probe with a good client meanwhile, hold slow clients open."""
from __future__ import annotations

import http.client
import itertools
import socket
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson

from bench.robustness.inputs import Attack
from core.threads import lower_thread_priority


@dataclass
class Outcome:
    codes: Counter = field(default_factory=Counter)                 # status (or 'reset', 'timeout')
    by_kind_5xx: Counter = field(default_factory=Counter)
    examples_5xx: list[str] = field(default_factory=list)
    claimed_accepted: int = 0
    claimed_dead: int = 0
    handler_refusals: int = 0                                       # 4xx from an ingest handler
    sent: int = 0
    not_ready: int = 0                                              # /readyz answered 503
    not_ready_why: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, a: Attack, status: int | str, body: bytes) -> None:
        with self.lock:
            self.sent += 1
            self.codes[status] += 1
            if status == 503 and a.path.startswith("/readyz"):       # an answer about the pipeline, not a failure
                self.not_ready += 1
                try:
                    checks = orjson.loads(body)["checks"]
                    self.not_ready_why.update(c["detail"] for c in checks.values() if not c["ok"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    self.not_ready_why["unreadable answer"] += 1
            elif isinstance(status, int) and status >= 500:
                self.by_kind_5xx[a.kind] += 1
                if len(self.examples_5xx) < 20:
                    self.examples_5xx.append(f"{status} {a.method} {a.path[:60]} [{a.kind}] {body[:120]!r}")
            if isinstance(status, int) and a.path.startswith(("/v1/ingest", "/v1/inference", "/v1/audit")):
                try:
                    j = orjson.loads(body)
                except orjson.JSONDecodeError:
                    j = None
                if isinstance(j, dict) and (status < 300 or (status in (400, 422) and "dead_lettered" in j)):
                    # a 400 whose every record was refused still claims its dead letters
                    self.claimed_accepted += int(j.get("accepted") or 0)
                    self.claimed_dead += int(j.get("dead_lettered", j.get("rejected")) or 0)
                elif status in (400, 422):
                    self.handler_refusals += 1


@dataclass(frozen=True)
class Identity:
    """Who the attackers are: their bearer token and the loopback addresses they connect from
    (Linux routes all of 127.0.0.0/8 to lo, so a client socket bound to 127.0.0.2 reaches a server
    on 127.0.0.1 as another client). Worker threads and slow clients take the addresses in turn."""
    token: str
    sources: tuple[str, ...] = ()

    def source(self, i: int) -> str | None:
        return self.sources[i % len(self.sources)] if self.sources else None


def loopback_sources(n: int, first: int = 2) -> tuple[str, ...]:
    """`n` loopback addresses other than 127.0.0.1: 127.0.0.2, 127.0.0.3, ..."""
    return tuple(f"127.0.{(first + i) // 256}.{(first + i) % 256}" for i in range(n))


def send(a: Attack, host: str, port: int, token: str, timeout: float = 30.0,
         source: str | None = None) -> tuple[int | str, bytes]:
    bind = (source, 0) if source else None
    if a.raw is not None:
        raw = a.raw.replace(b"Authorization: Bearer \r\n", f"Authorization: Bearer {token}\r\n".encode())
        try:
            with socket.create_connection((host, port), timeout=timeout, source_address=bind) as s:
                s.sendall(raw)
                s.shutdown(socket.SHUT_WR)
                data = b""
                while len(data) < 65536:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except (ConnectionError, socket.timeout, OSError) as e:
            return ("timeout" if isinstance(e, socket.timeout) else "reset"), b""
        if data.startswith(b"HTTP/1.1 ") and data[9:12].isdigit():
            return int(data[9:12]), data.partition(b"\r\n\r\n")[2]
        return "closed", data[:100]
    c = http.client.HTTPConnection(host, port, timeout=timeout, source_address=bind)
    try:
        headers = {"Authorization": f"Bearer {token}", **a.headers}
        c.request(a.method, a.path, body=a.body or None, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    except socket.timeout:
        return "timeout", b""
    except (ConnectionError, http.client.HTTPException, OSError):
        return "reset", b""
    finally:
        c.close()


class Gate:
    """Lets the attackers through while open; `close()` waits until no attack is in flight, so an
    idle window measured after it sees a server with nothing of the attack left to answer."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()
        self._cond = threading.Condition()
        self._inflight = 0

    def enter(self) -> None:
        while True:
            self._open.wait()
            with self._cond:
                if self._open.is_set():
                    self._inflight += 1
                    return

    def leave(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def open(self) -> None:
        self._open.set()

    def close(self, timeout: float = 120.0) -> None:
        with self._cond:
            self._open.clear()
            self._cond.wait_for(lambda: self._inflight == 0, timeout)


def lower_priority(by: int) -> None:
    """Raise the calling thread's nice value by `by` (Linux: that thread alone)."""
    lower_thread_priority(by)


def attack(attacks: list[Attack], host: str, port: int, who: Identity, workers: int = 6,
           gate: Gate | None = None, nice: int = 0) -> Outcome:
    """Send every attack from `workers` threads, each `nice` levels below the calling thread and
    connecting from its own address of `who.sources` (in turn when there are fewer)."""
    out = Outcome()
    local = threading.local()
    started = itertools.count()

    def init() -> None:
        lower_priority(nice)
        local.source = who.source(next(started))

    def one(a: Attack) -> None:
        if gate is not None:
            gate.enter()
        try:
            status, body = send(a, host, port, who.token, source=local.source)
        finally:
            if gate is not None:
                gate.leave()
        out.add(a, status, body)
    with ThreadPoolExecutor(workers, initializer=init) as ex:
        list(ex.map(one, attacks))
    return out


class SlowClients(threading.Thread):
    """Keeps `n` half-sent requests open (a head never finished, or a body never finished),
    opening a new one whenever the server closes one; counts the connections opened. While
    `paused` is set, it holds none."""

    def __init__(self, host: str, port: int, who: Identity, n: int = 200, nice: int = 0) -> None:
        super().__init__(daemon=True)
        self.host, self.port, self.who, self.n, self.nice = host, port, who, n, nice
        self.opened = 0
        self.stop_event = threading.Event()
        self.paused = threading.Event()

    def _open(self, i: int) -> socket.socket | None:
        try:
            src = self.who.source(i)
            s = socket.create_connection((self.host, self.port), timeout=5, source_address=(src, 0) if src else None)
            s.sendall(b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\n" if i % 2 else
                      f"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.who.token}\r\n"
                      "Content-Length: 100000\r\n\r\n[{\"partial\":".encode())
            s.setblocking(False)
            self.opened += 1
            return s
        except OSError:
            return None

    def run(self) -> None:
        lower_priority(self.nice)
        socks = [self._open(i) for i in range(self.n)]
        while not self.stop_event.wait(0.5):
            if self.paused.is_set():
                for i, s in enumerate(socks):
                    if s is not None:
                        s.close()
                    socks[i] = None
                continue
            for i, s in enumerate(socks):
                dead = s is None
                if s is not None:
                    try:
                        dead = s.recv(1024) == b""
                    except BlockingIOError:
                        dead = False
                    except OSError:
                        dead = True
                if dead:
                    if s is not None:
                        s.close()
                    socks[i] = self._open(i)
        for s in socks:
            if s is not None:
                s.close()
