"""Progress bars for long work, drawn with `rich` on stderr: NAB files, guard rows, drift rows,
training batches and steps, embeddings, leave-one-source-out folds.

A bar is drawn only when its caller asks for one (`enabled`: the CLI passes False under --json)
AND stderr is a terminal: scripts, pipes and logs get nothing from it. Library code takes a
`progress` flag and draws with `Bar` / `track`; nothing here knows about the CLI.
(`agent.cli.progress` follows the pipeline's counters during replay and demo.)"""
from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

T = TypeVar("T")


class Bar:
    """A bar over `total` steps (a spinner when the total is not known), with elapsed time; off
    unless `enabled` and stderr is a terminal (then every method does nothing)."""

    def __init__(self, label: str, total: int | None = None, enabled: bool = True) -> None:
        self.label = label
        self._progress: Progress | None = None
        if not (enabled and sys.stderr.isatty()):
            return
        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=None)]
        if total is not None:
            columns += [MofNCompleteColumn(), TimeRemainingColumn()]
        self._progress = Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self._task = self._progress.add_task(label, total=total)
        self._progress.start()

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def update(self, steps: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, steps)

    def describe(self, what: str) -> None:
        """Name the step under way after the label (`train prompt guard: n-gram features`)."""
        if self._progress is not None:
            self._progress.update(self._task, description=f"{self.label}: {what}")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(items: Iterable[T], label: str, total: int | None = None, enabled: bool = True) -> Iterator[T]:
    """Iterate `items` with a bar (total: `len(items)` when it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)   # type: ignore[arg-type]
    with Bar(label, total, enabled) as bar:
        for x in items:
            yield x
            bar.update(1)
