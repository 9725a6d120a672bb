"""collectors/hostmetrics.py with a fake NVML (no GPU here) and the real psutil.
(Kept beside the metric detector tests: the collector feeds them.)"""
from types import SimpleNamespace

import pytest

from core import registry
from core.errors import ConfigError
from collectors.base import ListEmitter
from collectors.hostmetrics import HostMetricsCollector
from detectors.metrics.gpu import GpuHealthDetector


class FakeNvml:
    NVML_TEMPERATURE_GPU = 0
    NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1
    NVML_VOLATILE_ECC = 0
    nvmlEventTypeXidCriticalError = 8

    def __init__(self, n=2):
        self.n = n
        self.used = [10e9, 20e9]
        self.ecc = [0, 0]
        self.pending = []
        self.closed = False

    def nvmlInit(self): pass
    def nvmlShutdown(self): self.closed = True
    def nvmlDeviceGetCount(self): return self.n
    def nvmlDeviceGetHandleByIndex(self, i): return f"h{i}"
    def nvmlEventSetCreate(self): return "es"
    def nvmlEventSetFree(self, es): pass
    def nvmlDeviceRegisterEvents(self, h, typ, es): pass

    def nvmlEventSetWait(self, es, timeout):
        if not self.pending:
            raise RuntimeError("timeout")
        return self.pending.pop(0)

    def _i(self, h): return int(h[1:])
    def nvmlDeviceGetMemoryInfo(self, h): return SimpleNamespace(used=self.used[self._i(h)], total=80e9)
    def nvmlDeviceGetName(self, h): return b"NVIDIA H100 80GB HBM3"
    def nvmlDeviceGetUUID(self, h): return f"GPU-{self._i(h)}"
    def nvmlDeviceGetUtilizationRates(self, h): return SimpleNamespace(gpu=87, memory=40)
    def nvmlDeviceGetTemperature(self, h, kind): return 71 + self._i(h)
    def nvmlDeviceGetPowerUsage(self, h): raise RuntimeError("not supported")
    def nvmlDeviceGetTotalEccErrors(self, h, a, b): return self.ecc[self._i(h)]


@pytest.fixture
def fake(monkeypatch):
    nv = FakeNvml()
    monkeypatch.setattr(HostMetricsCollector, "nvml_loader", staticmethod(lambda: nv))
    return nv


def test_registered_and_validated():
    assert registry.get("collector", "hostmetrics") is HostMetricsCollector
    with pytest.raises(ConfigError):
        registry.create("collector", "hostmetrics/x", {"gpu": "maybe"})


def test_gpu_and_host_metrics(fake):
    t = iter([1000.0, 1060.0])
    c = HostMetricsCollector("node-7", entity="gpu-node-7", clock=lambda: next(t))
    em = ListEmitter()
    c.bind(em)
    n1 = c.run_once()
    fake.ecc[1] = 2
    fake.pending.append(SimpleNamespace(device="h1", eventData=79))
    n2 = c.run_once()
    assert n1 == len(em.events[:n1]) and n2 > 0
    second = [e for e in em.events if e.time == 1060.0]
    by = {(e.name, e.attributes.get("gpu.index")): e for e in second}
    mem = by[("gpu.memory.used", 1)]
    assert mem.value == 20e9 and mem.entity == "gpu-node-7" and mem.kind == "metric"
    assert mem.attributes["gpu.memory.total"] == 80e9 and mem.attributes["gpu.uuid"] == "GPU-1"
    assert by[("gpu.utilization", 0)].value == pytest.approx(0.87)
    assert by[("gpu.temperature", 1)].value == 72.0
    assert by[("gpu.xid.errors", 1)].value == 1.0 and by[("gpu.xid.errors", 1)].attributes["gpu.xid.code"] == 79
    assert by[("gpu.xid.errors", 0)].value == 0.0
    assert by[("gpu.ecc.errors", 1)].value == 2.0
    assert c.errors >= 2                              # power usage unsupported: skipped and counted
    host = {e.name for e in second if "gpu.index" not in e.attributes}
    assert {"system.cpu.utilization", "system.memory.usage", "system.network.io"} <= host
    # the events feed the GPU detectors directly
    found = GpuHealthDetector().process([e for e in em.events if e.name == "gpu.xid.errors"])
    assert len(found) == 1 and found[0].severity == "critical"
    # same sample, same ids
    assert len({e.id for e in em.events}) == len(em.events)


def test_no_gpu_is_fine_in_auto_and_an_error_when_required(monkeypatch):
    def boom():
        raise ImportError("No module named 'pynvml'")
    monkeypatch.setattr(HostMetricsCollector, "nvml_loader", staticmethod(boom))
    c = HostMetricsCollector("h", clock=lambda: 5.0)
    evs = c.collect()
    assert evs and not any(e.name.startswith("gpu.") for e in evs)
    with pytest.raises(RuntimeError, match="NVML"):
        HostMetricsCollector("h", gpu="on").start()


def test_start_close_twice(fake):
    c = HostMetricsCollector("h", interval=3600.0, host=False)
    em = ListEmitter()
    c.bind(em)
    c.start()
    c.start()
    c.close()
    c.close()
    assert fake.closed and any(e.name == "gpu.memory.used" for e in em.events)
