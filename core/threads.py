"""Thread priority: a thread can lower its own OS scheduling priority (raise its nice value).

A process that serves HTTP from an event loop shares the CPU with its other threads (handler
threads, the pipeline's stages): when they compete, the loop should get the CPU first, or a small
request waits behind a batch of detector work or a gzip inflate that holds no interpreter lock.
Linux schedules threads on their own and lets a thread raise its own nice value without
privileges (`setpriority(PRIO_PROCESS, thread id, nice)`); threads it starts afterwards inherit
it (torch's and sqlite's helpers too). Lowering the nice value needs privileges and is never done.
"""
from __future__ import annotations

import os
import threading

MAX_NICE = 19


def lower_thread_priority(by: int) -> int:
    """Raise the calling thread's nice value by `by` (capped at 19); the nice value it runs at now.
    A no-op (returning 0) where threads have no nice value of their own (not Linux) or `by` <= 0."""
    if by <= 0 or not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return 0
    tid = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(MAX_NICE, now + by))
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:                 # a sandbox without setpriority: keep running as is
        return 0


def thread_nice() -> int:
    """The calling thread's nice value (0 where threads have none of their own)."""
    if not hasattr(os, "getpriority") or not hasattr(threading, "get_native_id"):
        return 0
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
