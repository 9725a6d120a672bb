"""Re-submitting dead letters (`warden deadletters replay`): a bounded collector over the input
records of chosen dead letters. Each record goes through the input formats it was refused by
(the letter's `formats`: the route's or `--format`'s when it was read; `fmt` overrides them, the fix
for a record read with the wrong format) again on its own
(collectors/accounting.py): an accepted one's events are emitted; one refused again is reported
with its new reason and NOT dead-lettered again (it is a dead letter already). Not registered as
a config component: the CLI builds it from the letters it read."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.deadletters import DeadLetter
from collectors.accounting import outcomes
from collectors.base import Collector


@dataclass(frozen=True)
class Resubmitted:
    """What became of one letter: records `accepted` (with their `events`) and `refused` (the
    first `reason`); a letter that is not re-submittable has neither and says why."""
    id: str
    accepted: int = 0
    refused: int = 0
    events: int = 0
    reason: str = ""

    @property
    def outcome(self) -> str:
        if self.accepted and not self.refused:
            return "accepted"
        return "partly accepted" if self.accepted else ("refused" if self.refused else "not re-submittable")


class ResubmitCollector(Collector):
    type: ClassVar[str] = "resubmit"
    bounded: ClassVar[bool] = True

    def __init__(self, letters: list[DeadLetter], fmt: str | None = None, name: str = "deadletters") -> None:
        super().__init__(name)
        self.letters, self.fmt = letters, fmt
        self.results: list[Resubmitted] = []

    def run_once(self) -> int:
        if not self.first_run():
            return 0
        for letter in self.letters:
            record, why = letter.record()
            formats = (self.fmt,) if self.fmt else letter.formats
            if why is None and not formats:
                why = ("the letter does not name the input format its record was read with (written by a "
                       "collector that reads no format, or by an older warden): give --format")
            if why is not None:
                self.results.append(Resubmitted(letter.id, reason=why))
                continue
            # a letter written before records were accounted one by one may hold a whole file:
            # its members are accepted or refused each on its own here too
            done = outcomes(record, formats, letter.source or self.name)
            refused = [o for o in done if o.reason is not None]
            events = [ev for o in done if o.reason is None for ev in o.events]
            for ev in events:
                self.emitter.emit(ev)
            reason = "" if not refused else (f"{refused[0].where}: {refused[0].reason}" if refused[0].where
                                             else str(refused[0].reason))
            self.results.append(Resubmitted(letter.id, len(done) - len(refused), len(refused), len(events), reason))
        return len(self.letters)
