"""Input format "event": a record that already is a warden Event in its wire form (core.codec).

`{"v": 1, "type": "event", "id": ..., "time": <epoch s>, "kind": "metric", "source": ..., "entity": ...,
"name": ..., "value": ..., "attributes": {...}, "observed_time": ...}` -> that Event, unchanged:
its id, source and times are kept (a re-read or re-sent event keeps its identity). This is what
`collectors.scenario.write_file` dumps for metric streams and what any tool can produce with core.codec.
Undecodable records raise FormatError with the codec's reason.
"""
from __future__ import annotations

from typing import Any

from core import codec
from core.event import Event
from collectors.formats import FormatError, input_format

FORMAT = "event"


def detect(record: Any) -> bool:
    return isinstance(record, dict) and record.get("type") == "event"


@input_format(FORMAT, detect=detect, description="warden Event in its JSON wire form (core.codec)")
def parse(record: Any, source: str) -> list[Event]:
    """warden Event in its JSON wire form (core.codec)."""
    try:
        ev = codec.from_dict(record, expect="event")
    except codec.DecodeError as e:
        raise FormatError(f"{FORMAT}: {e}") from None
    return [ev]
