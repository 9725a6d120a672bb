"""Every record of an input accounted for on its own: accepted (its events emitted) or
dead-lettered with its reason, and counted.

One decoded input document (a JSON-lines line, a whole file, one HTTP body) may hold many records:
a JSON array, a CloudTrail log file `{"Records": [...]}`, a Kubernetes `EventList`, a GCP
`entries.list` answer. `account()` splits a container with its format's `split()` and parses each
member by itself, so one bad member (an action-only CloudTrail record, a wrongly typed item) is
dead-lettered alone and the rest still go through.

Pathological input is refused before any parser sees it: a record nested deeper than `MAX_DEPTH`
levels is dead-lettered with that reason (JSON of ~1,000 levels is valid for orjson, but no audit
or inference record is that deep, and recursive code downstream would fail on it).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

from core.event import Event
from core.event_bounds import out_of_bounds
from collectors.base import Emitter
from collectors.formats import FormatError, parse_record, resolve

log = logging.getLogger("warden.collectors.accounting")

#: deepest nesting a record may have (CloudTrail request parameters and Kubernetes objects stay
#: well under 40; orjson serialises at most 254 levels, and events wrap their record in 2 more)
MAX_DEPTH = 100


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when `value` nests lists/objects more than `limit` levels deep (iterative: any depth)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if d > limit:
            return True
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return False


@dataclass
class Tally:
    """Per-record counts of one input (an HTTP request, a replayed file): what the caller answers."""
    MAX_REASONS: ClassVar[int] = 20
    accepted: int = 0
    dead_lettered: int = 0
    events: int = 0
    reasons: list[dict[str, str]] = field(default_factory=list)

    def refused(self, where: str, reason: str) -> None:
        self.dead_lettered += 1
        if len(self.reasons) < self.MAX_REASONS:
            self.reasons.append({"record": where, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"accepted": self.accepted, "dead_lettered": self.dead_lettered,
                               "events": self.events, "reasons": list(self.reasons)}
        if self.dead_lettered > len(self.reasons):
            out["reasons_omitted"] = self.dead_lettered - len(self.reasons)
        return out


@dataclass(frozen=True)
class Outcome:
    """What became of one record: its events, or the reason it was refused; `formats`: the input
    formats it was read with (a dead letter keeps them: `warden deadletters replay` reuses them)."""
    where: str
    record: Any
    events: list[Event]
    reason: str | None = None
    formats: tuple[str, ...] = ()


class TooManyRecords(ValueError):
    """A document holds more records than the caller takes in one go: refused before any is parsed."""


def outcomes(document: Any, formats: Sequence[str], source: str, where: str = "",
             max_records: int | None = None) -> list[Outcome]:
    """Each record of `document` parsed on its own with the first of `formats` that reads it
    (`auto` detects); a container is split into its members with its format's split(). A container
    of more than `max_records` members raises TooManyRecords before any member is parsed."""
    members, member_formats = _members(document, formats)
    if members is not None and max_records is not None and len(members) > max_records:
        raise TooManyRecords(f"{len(members)} records, more than {max_records}")
    check_depth = deeper_than(document)          # one walk of the document; members only when needed
    if members is None:
        return [_one(document, formats, source, where, check_depth)]
    return [_one(m, member_formats, source, f"{where}[{i}]", check_depth) for i, m in enumerate(members)]


def _members(document: Any, formats: Sequence[str]) -> tuple[list[Any] | None, Sequence[str]]:
    if len(formats) != 1:
        return None, formats
    try:
        fmt = resolve(document, formats[0])
    except FormatError:
        return None, formats
    if fmt.split is None:
        return None, formats
    try:
        members = fmt.split(document)
    except (FormatError, ValueError, TypeError, KeyError, AttributeError):
        return None, formats                     # the parser gives the reason
    return members, (fmt.name,)                  # members are read by the format that claimed the file


def _one(record: Any, formats: Sequence[str], source: str, where: str, check_depth: bool) -> Outcome:
    tried = tuple(formats)
    if check_depth and deeper_than(record):
        return Outcome(where, record, [], f"record nested deeper than {MAX_DEPTH} levels", tried)
    reasons: list[str] = []
    for fmt in formats:
        try:
            events = parse_record(record, fmt, source)
        except FormatError as e:
            reasons.append(str(e))
        except Exception as e:  # noqa: BLE001 - a parser bug must not lose the other records
            log.warning("%s: parser failed at %s: %s", source, where or "record", type(e).__name__)
            reasons.append(f"parser error: {type(e).__name__}: {e}")
        else:
            return _bounded(Outcome(where, record, events, None, tried))
    if len(reasons) > 1:        # every format tried says why (the last alone named a format the record is not)
        return Outcome(where, record, [], f"none of {', '.join(formats)} reads it: {'; '.join(reasons)}", tried)
    return Outcome(where, record, [], reasons[0] if reasons else "no format given", tried)


def _bounded(o: Outcome) -> Outcome:
    """`o`, or `o` refused when one of its events carries a value no sink holds (core.event_bounds)."""
    for ev in o.events:
        why = out_of_bounds(ev)
        if why is not None:
            return Outcome(o.where, o.record, [], why, o.formats)
    return o


def account(document: Any, formats: Sequence[str], emitter: Emitter, source: str, tally: Tally,
            where: str = "", raw_of: Callable[[Outcome], Any] | None = None) -> None:
    """Emit the events of each accepted record of `document`, dead-letter each refused one with
    `where: reason`, and count both in `tally`."""
    deliver(outcomes(document, formats, source, where), emitter, source, tally, raw_of)


def deliver(done: list[Outcome], emitter: Emitter, source: str, tally: Tally,
            raw_of: Callable[[Outcome], Any] | None = None) -> None:
    """Emit / dead-letter / count outcomes. `raw_of(outcome)` gives what to dead-letter (default:
    the record itself; Runtime.dead_letter keeps a safe, truncated form of anything)."""
    for o in done:
        if o.reason is None:
            for ev in o.events:
                emitter.emit(ev)
            tally.accepted += 1
            tally.events += len(o.events)
            continue
        reason = f"{o.where}: {o.reason}" if o.where else o.reason
        emitter.dead_letter(raw_of(o) if raw_of else o.record, reason, source, o.formats)
        tally.refused(o.where, o.reason)
