"""The real Alertmanager and amtool (v0.35.0, built by deploy/local/alertmanager-tools) for the
integration tests: find or build the binaries, run an Alertmanager on a free port, run amtool.

With WARDEN_REQUIRE_STACK=1 (./scripts/test) binaries that cannot be built fail the test; otherwise
the test skips with the reason."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "deploy" / "local" / "alertmanager-tools"


def bin_dir() -> Path:
    try:
        out = subprocess.run([str(TOOLS)], check=True, capture_output=True, text=True, timeout=900)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        why = f"Alertmanager/amtool could not be built ({TOOLS.name}): {getattr(e, 'stderr', '') or e}"
        if os.environ.get("WARDEN_REQUIRE_STACK") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return Path(out.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Alertmanager:
    """A real Alertmanager process with a single `null` receiver, clustering off."""

    CONFIG = "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n"

    def __init__(self, binary: Path, workdir: Path, port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.yml").write_text(self.CONFIG)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "alertmanager.log", "wb")
        self.proc = subprocess.Popen(
            [str(binary), f"--config.file={workdir / 'alertmanager.yml'}", f"--storage.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alertmanager exited with {self.proc.returncode}: "
                                   f"{(workdir / 'alertmanager.log').read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.close()
        raise RuntimeError("alertmanager did not become ready in 60 s")

    def alerts(self, **params) -> list[dict]:
        r = requests.get(self.url + "/api/v2/alerts", params=params, timeout=5)
        r.raise_for_status()
        return r.json()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def wait_for(predicate, timeout: float = 20.0, every: float = 0.2):
    """Poll `predicate` until it returns something truthy; that value (the last one on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(every)
