"""The `scenario` collector: emits the bundled scenario once, parsing every record."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from core.registry import register
from collectors.base import Collector
from collectors.formats import FormatError, parse_record
from collectors.scenario.records import iter_records
from collectors.scenario.timeline import (DEFAULT_HOURS, DEFAULT_SEED, DEFAULT_START, DEFAULT_STEP, MAX_HOURS,
                                          ground_truth, parse_start)


@register
class ScenarioCollector(Collector):
    """Bundled deterministic incident scenario (`warden demo`): emits everything in run_once()."""
    type = "scenario"
    bounded = True

    @dataclass
    class Config:
        seed: int = DEFAULT_SEED
        hours: float = DEFAULT_HOURS
        start_time: str = DEFAULT_START     # ISO-8601 UTC start of the simulated run
        step_seconds: int = DEFAULT_STEP    # metric sampling interval
        incidents: bool = True              # inject the incidents of ground_truth()

        def validate(self) -> None:
            if not 0 < self.hours <= MAX_HOURS:
                raise ValueError(f"hours must be in (0, {MAX_HOURS}]")
            if not 1 <= self.step_seconds <= 3600:
                raise ValueError("step_seconds must be in [1, 3600]")
            parse_start(self.start_time)

    def records(self) -> Iterator[tuple[str, dict]]:
        c = self.config
        return iter_records(c.seed, c.hours, c.start_time, c.step_seconds, c.incidents, source=self.name)

    def ground_truth(self) -> list[dict[str, Any]]:
        c = self.config
        return ground_truth(c.seed, c.hours, c.start_time, c.step_seconds, c.incidents)

    def run_once(self) -> int:
        """Emit the whole scenario once (later calls return 0); returns the number of records."""
        if not self.first_run():
            return 0
        n = 0
        for fmt, rec in self.records():
            n += 1
            try:
                events = parse_record(rec, fmt, self.name)
            except FormatError as e:
                self.emitter.dead_letter(rec, str(e), self.name, (fmt,))
                continue
            except Exception as e:  # noqa: BLE001 - a parser bug must not stop the scenario
                self.emitter.dead_letter(rec, f"{fmt}: parser error: {type(e).__name__}: {e}", self.name, (fmt,))
                continue
            for ev in events:
                self.emitter.emit(ev)
        return n
