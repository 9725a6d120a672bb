"""Wire the stages together: all in one process (embedded default) or one stage per process.

`Pipeline.drain()` runs the stages round-robin until every bounded collector is finished and no
stage has anything left (demo, replay, tests). `Pipeline.run()` runs each stage in its own
thread until stopped (production: `warden run --stage detect`, one consumer group per stage).
"""
from __future__ import annotations

import logging
import threading
import time

from agent.config import WardenConfig
from agent.http.server import HttpServer
from core.memory import tuned_gc
from core.threads import lower_thread_priority
from agent.runtime import Runtime
from agent.stages import STAGES, stage_class
from policy.policies import PolicySet

log = logging.getLogger("warden.pipeline")


class Pipeline:
    def __init__(self, cfg: WardenConfig, *, stages: tuple[str, ...] = STAGES, runtime: Runtime | None = None,
                 collectors: list | None = None, detectors: list | None = None,
                 responders: list | None = None, http: bool | None = None) -> None:
        self.cfg = cfg
        self.rt = runtime or Runtime(cfg)
        self.rt.create_topics()
        self.rt.share_state()
        if cfg.pipeline.tracing != "none":
            from core.observability import tracing
            if not tracing.enabled():
                tracing.setup(cfg.pipeline.tracing, cfg.pipeline.tracing_endpoint)
        from core.observability import logs as _logs
        _logs.configure_root(cfg.pipeline.log_format)
        self.http = None
        want_http = cfg.http.enabled if http is None else http
        if want_http and ("collect" in stages or cfg.http.metrics):
            self.http = HttpServer.from_config(cfg.http, counters=self.rt.counters)
            if cfg.http.metrics:
                self.http.add_metrics_route()
            from agent.alertmanager.api import for_config as alertmanager_api
            self.http.add_routes(alertmanager_api(cfg).routes())    # /api/v2/*: amtool, Grafana, Karma
            if cfg.http.ui:
                from agent.ui import UiOptions, install
                install(self.http, cfg, self.rt.store, options=UiOptions(redaction=cfg.http.ui_redaction),
                        counters=self.rt.counters)
        policies = PolicySet.load(cfg.policies or None)
        self.stages = []
        for name in stages:
            cls = stage_class(name)
            kw: dict = {}
            if name == "collect":
                kw = {"collectors": collectors, "http_server": self.http}
            elif name == "detect":
                kw = {"detectors": detectors}
            elif name == "decide":
                kw = {"policies": policies}
            elif name == "act":
                kw = {"responders": responders, "policies": policies}
            self.stages.append(cls(self.rt, **kw))
        if self.http is not None and self.stages:
            from agent.health import readiness
            readiness.register(self.http, self.stages, self.rt)
        self._stop = threading.Event()

    def preflight(self) -> None:
        """What a long-running process would otherwise meet only at its first request or alert, now:
        unusable TLS files and an address or port it cannot listen on (ConfigError; the socket is
        kept for start()), an unusable SQLite store file (InputError) for the stages
        that use the store (decide reads silences from it, act writes alerts). Elasticsearch is not
        tried here: the stages wait for it (backpressure)."""
        if self.http is not None:
            self.http.ssl_context()
            self.http.bind()
        if self.cfg.store.type == "sqlite" and {s.name for s in self.stages} & {"decide", "act"}:
            self.rt.store      # opened and started once, kept for the stages

    def start(self) -> None:
        for s in self.stages:
            s.start()
        if self.http is not None:
            self.http.start()

    def drain(self, *, idle_rounds: int = 2, timeout: float = 600.0) -> None:
        """Run until bounded collectors are done and every stage is idle for `idle_rounds` rounds."""
        self.start()
        deadline = time.monotonic() + timeout
        idle = 0
        while idle < idle_rounds and time.monotonic() < deadline:
            moved = 0
            for s in self.stages:
                while True:
                    n = s.step(timeout=0.01)
                    moved += n
                    if n == 0 or s.name == "collect":
                        break
            idle = idle + 1 if moved == 0 else 0
        for s in self.stages:
            if s.name != "collect":
                s.checkpoint()
            s.heartbeat.beat(0, s._lag_or_none, force=True)    # the state the drain ended in

    def run(self) -> None:
        """Run every stage in its own thread until stop() (or SIGINT/SIGTERM in the CLI)."""
        self.start()
        threads = [threading.Thread(target=self._loop, args=(s,), name=f"warden-{s.name}", daemon=True)
                   for s in self.stages]
        with tuned_gc(self.cfg.pipeline.gc_threshold):
            for t in threads:
                t.start()
            try:
                while not self._stop.is_set():
                    self._stop.wait(0.5)
            finally:
                self._stop.set()
                for t in threads:
                    t.join(timeout=10)

    def _loop(self, stage) -> None:
        if self.http is not None:       # the HTTP event loop in this process goes first (core.threads)
            lower_thread_priority(self.cfg.http.background_nice)
        while not self._stop.is_set():
            try:
                n = stage.step(timeout=0.2)
                if stage.name == "collect" and n == 0:
                    self._stop.wait(0.2)
            except Exception:  # noqa: BLE001 - keep the stage alive; the batch will be replayed
                log.exception("stage %s failed a step; retrying after a pause", stage.name)
                self.rt.counters.inc(f"{stage.name}.step_failures")
                self._stop.wait(1.0)
                self._recover(stage)

    def _recover(self, stage) -> None:
        """After a failed step, restart the stage's consumer from its last commit (replay)."""
        stage.reset_consumer()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.stop()
        for s in self.stages:
            if s._heartbeat is not None:      # stopped, not gone: `warden status` says so
                s.heartbeat.stop()
            try:
                s.close()
            except Exception:  # noqa: BLE001 - close everything we can
                log.exception("closing stage %s", s.name)
        if self.http is not None:
            self.http.close()
        self.rt.close()
