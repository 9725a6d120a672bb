"""Progress on long CLI work with `rich`: a live line on stderr that follows the pipeline's
counters while `Pipeline.drain()` runs (replay, demo): events read, dead letters, alerts opened,
elapsed time. Shown only on a terminal; scripts and `--json` get nothing on stderr from it."""
from __future__ import annotations

import contextlib
import sys
import threading
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

#: (counter, label) shown while the pipeline drains
PIPELINE_COUNTERS = (("collect.events", "events"), ("collect.deadletter", "dead letters"),
                     ("decide.alerts_opened", "alerts"))


def _describe(counters, label: str) -> str:
    return f"{label}: " + ", ".join(f"{int(counters.get(k)):,} {name}" for k, name in PIPELINE_COUNTERS)


@contextlib.contextmanager
def pipeline_progress(counters, label: str, enabled: bool | None = None) -> Iterator[None]:
    """Follow the counters while the body runs (a refresh thread reads them 5 times a second)."""
    on = sys.stderr.isatty() if enabled is None else enabled
    if not on:
        yield
        return
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=None),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = progress.add_task(_describe(counters, label), total=None)
    stop = threading.Event()

    def follow() -> None:
        while not stop.wait(0.2):
            progress.update(task, description=_describe(counters, label))

    t = threading.Thread(target=follow, name="cli-progress", daemon=True)
    with progress:
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()
