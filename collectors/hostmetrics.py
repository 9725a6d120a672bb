"""GPU and host metrics collector (type ``hostmetrics``): NVML for GPUs, psutil for the host.

Every ``interval`` seconds (a background thread between ``start()`` and ``close()``; or one
``run_once()`` per call for pull-style use and tests) it samples and emits ``Event(kind="metric")``
with ``entity`` = the host name (option ``entity`` overrides), ``source`` = this collector:

GPU (when ``gpu`` is ``auto`` and the ``nvidia-ml-py`` module ``pynvml`` imports and finds a GPU,
or ``on``), per device, attributes ``gpu.index``, ``gpu.uuid``, ``gpu.name``, ``gpu.memory.total``:
- ``gpu.memory.used`` (bytes), ``gpu.utilization`` (0..1), ``gpu.temperature`` (Celsius),
- ``gpu.xid.errors``: critical XID events seen since the previous sample (NVML event set; the last
  XID code in attribute ``gpu.xid.code``), ``gpu.ecc.errors``: volatile uncorrected ECC errors
  since the previous sample, ``gpu.power.usage`` (watts) when available.

Host (``host: true``): ``system.cpu.utilization`` (0..1), ``system.memory.utilization`` (0..1),
``system.memory.usage`` (bytes), ``system.cpu.load_average.1m``, ``system.filesystem.utilization``
(of ``filesystem``), ``system.network.io`` (bytes since the previous sample, attribute
``network.io.direction`` receive | transmit).

A metric that cannot be read on a device is skipped and counted (``errors``); with ``gpu: on``
and no NVML, ``start()`` raises. Nothing here is input from outside, so there are no dead letters
except a GPU that disappears (reported once with the reason).
"""
from __future__ import annotations

import logging
import math
import socket
import threading
import time as _time
from dataclasses import dataclass
from typing import Any, Callable

from core import names
from core.event import Event
from core.registry import register
from collectors.base import Collector

log = logging.getLogger(__name__)


def _load_nvml():
    import pynvml  # nvidia-ml-py
    return pynvml


@register
class HostMetricsCollector(Collector):
    """Samples NVML GPU metrics and psutil host metrics every `interval` seconds."""

    type = "hostmetrics"
    #: replaced in tests by a fake NVML module
    nvml_loader: Callable[[], Any] = staticmethod(_load_nvml)

    @dataclass
    class Config:
        interval: float = 60.0        # seconds between samples
        gpu: str = "auto"             # auto | on | off
        host: bool = True
        entity: str = ""              # default: the host name
        filesystem: str = "/"

        def validate(self) -> None:
            if not self.interval > 0:
                raise ValueError("interval must be > 0")
            if self.gpu not in ("auto", "on", "off"):
                raise ValueError("gpu must be auto, on or off")

    def __init__(self, *a, clock: Callable[[], float] | None = None, **kw) -> None:
        super().__init__(*a, **kw)
        self.clock = clock or _time.time
        self.entity_name = self.config.entity or socket.gethostname() or "localhost"
        self.nvml = None
        self.handles: list = []
        self.errors = 0
        self.samples = 0
        self._events_set = None
        self._prev_ecc: dict[int, float] = {}
        self._prev_net: dict[str, float] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpu_tried = False

    # lifecycle ---------------------------------------------------------------------------------
    def _init_gpu(self) -> None:
        if self._gpu_tried or self.config.gpu == "off":
            return
        self._gpu_tried = True
        try:
            nv = type(self).nvml_loader()
            nv.nvmlInit()
            n = nv.nvmlDeviceGetCount()
        except Exception as e:  # no module, no driver, no GPU
            if self.config.gpu == "on":
                raise RuntimeError(f"hostmetrics: gpu: on but NVML is not usable ({e})") from e
            log.info("hostmetrics: no NVML GPU metrics (%s)", e)
            return
        if n == 0 and self.config.gpu == "on":
            raise RuntimeError("hostmetrics: gpu: on but NVML reports no GPU")
        self.nvml = nv
        self.handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(n)]
        try:
            es = nv.nvmlEventSetCreate()
            for h in self.handles:
                nv.nvmlDeviceRegisterEvents(h, nv.nvmlEventTypeXidCriticalError, es)
            self._events_set = es
        except Exception as e:
            log.info("hostmetrics: XID events unavailable (%s)", e)

    def on_start(self) -> None:
        self._init_gpu()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"{self.name}-sampler", daemon=True)
        self._thread.start()

    def on_close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.nvml is not None:
            try:
                if self._events_set is not None:
                    self.nvml.nvmlEventSetFree(self._events_set)
                self.nvml.nvmlShutdown()
            except Exception:
                pass
            self.nvml = None
            self._gpu_tried = False

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # never let the sampler thread die silently
                self.errors += 1
                log.exception("hostmetrics: sample failed")
            self._stop.wait(self.config.interval)

    # sampling ----------------------------------------------------------------------------------
    def run_once(self) -> int:
        evs = self.collect()
        if self.emitter is not None:
            for e in evs:
                self.emitter.emit(e)
        return len(evs)

    def collect(self) -> list[Event]:
        """One sample of every metric, as events (does not emit)."""
        self._init_gpu()
        t = float(self.clock())
        out: list[Event] = []
        if self.nvml is not None:
            out += self._gpu_events(t)
        if self.config.host:
            out += self._host_events(t)
        self.samples += 1
        return out

    def _ev(self, name: str, t: float, value: float, attrs: dict | None = None) -> Event:
        return Event.create(source=self.name, kind="metric", entity=self.entity_name, name=name,
                            time=t, value=value, attributes=attrs or {})

    def _read(self, fn, *args):
        try:
            return fn(*args)
        except Exception:
            self.errors += 1
            return None

    def _gpu_events(self, t: float) -> list[Event]:
        nv = self.nvml
        xids: dict[int, list[int]] = {}
        if self._events_set is not None:
            for _ in range(1000):                      # drain pending XID events
                try:
                    data = nv.nvmlEventSetWait(self._events_set, 0)
                except Exception:
                    break
                idx = self._index_of(getattr(data, "device", None))
                xids.setdefault(idx, []).append(int(getattr(data, "eventData", 0)))
        out = []
        for i, h in enumerate(self.handles):
            mem = self._read(nv.nvmlDeviceGetMemoryInfo, h)
            if mem is None and self._read(nv.nvmlDeviceGetName, h) is None:
                if self.emitter is not None:
                    self.emitter.dead_letter({"gpu.index": i}, "GPU not readable (fell off the bus?)", self.name)
                continue
            attrs = {"gpu.index": i}
            uuid = self._read(nv.nvmlDeviceGetUUID, h)
            name = self._read(nv.nvmlDeviceGetName, h)
            if uuid is not None:
                attrs["gpu.uuid"] = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
            if name is not None:
                attrs["gpu.name"] = name.decode() if isinstance(name, bytes) else str(name)
            if mem is not None:
                attrs["gpu.memory.total"] = float(mem.total)
                out.append(self._ev(names.GPU_MEMORY_USED, t, float(mem.used), attrs))
            util = self._read(nv.nvmlDeviceGetUtilizationRates, h)
            if util is not None:
                out.append(self._ev(names.GPU_UTILIZATION, t, float(util.gpu) / 100.0, attrs))
            temp = self._read(nv.nvmlDeviceGetTemperature, h, getattr(nv, "NVML_TEMPERATURE_GPU", 0))
            if temp is not None:
                out.append(self._ev(names.GPU_TEMPERATURE, t, float(temp), attrs))
            power = self._read(nv.nvmlDeviceGetPowerUsage, h)
            if power is not None:
                out.append(self._ev("gpu.power.usage", t, float(power) / 1000.0, attrs))
            if self._events_set is not None:
                codes = xids.get(i, [])
                xa = dict(attrs, **({"gpu.xid.code": codes[-1]} if codes else {}))
                out.append(self._ev(names.GPU_XID_ERRORS, t, float(len(codes)), xa))
            ecc = self._read(nv.nvmlDeviceGetTotalEccErrors, h,
                             getattr(nv, "NVML_MEMORY_ERROR_TYPE_UNCORRECTED", 1),
                             getattr(nv, "NVML_VOLATILE_ECC", 0))
            if ecc is not None:
                prev = self._prev_ecc.get(i)
                self._prev_ecc[i] = float(ecc)
                if prev is not None:
                    out.append(self._ev("gpu.ecc.errors", t, max(float(ecc) - prev, 0.0), attrs))
        return out

    def _index_of(self, handle) -> int:
        for i, h in enumerate(self.handles):
            if h == handle:
                return i
        return -1

    def _host_events(self, t: float) -> list[Event]:
        import psutil
        out = []
        cpu = self._read(psutil.cpu_percent, None)
        if cpu is not None:
            out.append(self._ev("system.cpu.utilization", t, cpu / 100.0))
        vm = self._read(psutil.virtual_memory)
        if vm is not None:
            out.append(self._ev("system.memory.utilization", t, vm.percent / 100.0))
            out.append(self._ev("system.memory.usage", t, float(vm.total - vm.available)))
        la = self._read(psutil.getloadavg)
        if la is not None:
            out.append(self._ev("system.cpu.load_average.1m", t, float(la[0])))
        du = self._read(psutil.disk_usage, self.config.filesystem)
        if du is not None:
            out.append(self._ev("system.filesystem.utilization", t, du.percent / 100.0,
                                {"system.filesystem.mountpoint": self.config.filesystem}))
        net = self._read(psutil.net_io_counters)
        if net is not None:
            cur = {"receive": float(net.bytes_recv), "transmit": float(net.bytes_sent)}
            if self._prev_net is not None:
                for d, v in cur.items():
                    out.append(self._ev("system.network.io", t, max(v - self._prev_net[d], 0.0),
                                        {"network.io.direction": d}))
            self._prev_net = cur
        return [e for e in out if e.value is not None and math.isfinite(e.value)]
