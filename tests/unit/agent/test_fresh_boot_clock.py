"""`./scripts/test` passes on a machine that booted a minute ago: the stage tests run again with the
monotonic clock near zero (issue #14: a test that pinned the stage's clock to 1000 s while its
last checkpoint time was real failed on every freshly booted machine)."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT
from tests.support import fresh_boot

SUITES = ["tests/unit/agent/test_pipeline_embedded.py", "tests/unit/agent/stages"]


def test_the_near_zero_clock_is_near_zero():
    cmd, env = fresh_boot.command_for_pytest([])
    python = cmd.index(sys.executable)
    probe = cmd[:python + 1] + ["-c", "import tests.support.fresh_boot, time; print(time.monotonic())"]
    out = subprocess.run(probe, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert 0 < float(out.stdout) < 60


def test_the_stage_suites_pass_on_a_freshly_booted_machine():
    cmd, env = fresh_boot.command_for_pytest(["-q", "-x", "-p", "no:cacheprovider", *SUITES])
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
