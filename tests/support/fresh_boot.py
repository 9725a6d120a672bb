"""Run part of the suite as on a machine that booted seconds ago: its monotonic clock near zero.

Where the kernel allows an unprivileged time namespace (`unshare --time`), the command runs in one
whose CLOCK_MONOTONIC starts at `START_S`: every reader of the clock (Python, threads, the kernel's
own timeouts) sees a fresh machine. Elsewhere this module is loaded as a pytest plugin
(`-p tests.support.fresh_boot`) that shifts `time.monotonic` / `time.monotonic_ns` before anything
under test is imported, so code that reads the clock through the `time` module sees the same.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

START_S = 5.0
_ENV = "WARDEN_FRESH_BOOT_SHIFT"


def _namespace_prefix() -> list[str] | None:
    """`unshare` arguments giving the child a monotonic clock near START_S, or None if refused."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    shift = int(time.monotonic() - START_S)
    prefix = [unshare, "--user", "--map-root-user", "--time", f"--monotonic=-{shift}"]
    probe = subprocess.run(prefix + [sys.executable, "-c", "import time; print(time.monotonic())"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0 or float(probe.stdout.strip() or "inf") > 60:
        return None
    return prefix


def command_for_pytest(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command (and environment) running pytest with `args` on a clock that starts near zero."""
    env = dict(os.environ)
    prefix = _namespace_prefix()
    if prefix is not None:
        return prefix + [sys.executable, "-m", "pytest", *args], env
    env[_ENV] = repr(time.monotonic() - START_S)
    return [sys.executable, "-m", "pytest", "-p", "tests.support.fresh_boot", *args], env


def _install_shift() -> None:
    shift = float(os.environ.get(_ENV, "0"))
    if shift <= 0:
        return
    real, real_ns = time.monotonic, time.monotonic_ns
    time.monotonic = lambda: real() - shift                                  # type: ignore[assignment]
    time.monotonic_ns = lambda: real_ns() - int(shift * 1e9)                 # type: ignore[assignment]


_install_shift()      # as a plugin: loaded before the tests import the code under test
