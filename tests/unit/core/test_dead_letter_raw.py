"""A dead letter is always written, whatever the record (issue #14: the fallback for a record
nested ~1,000 deep raised RecursionError itself, so the record was neither processed nor kept)."""
from __future__ import annotations

import orjson
import pytest

from core import codec
from agent.config import parse
from core.counters import Counters
from agent.runtime import RAW_LIMIT, Runtime, letter_raw
from tests.support.records import deep


class _BadRepr:
    def __repr__(self) -> str:
        raise RecursionError("repr recursed")


def _cyclic() -> list:
    a: list = []
    a.append(a)
    return a


RAWS = {
    "nested 1,000 deep": orjson.loads(deep(1000)),
    "nested 240 deep (beyond what the letter may wrap)": orjson.loads(deep(240)),
    "cyclic": _cyclic(),
    "repr raises": _BadRepr(),
    "a set": {1, 2},
    "large": {"k": "x" * (1 << 20)},
    "binary": b"\xff\xfe" * 5000,
}


@pytest.mark.parametrize("raw", list(RAWS.values()), ids=list(RAWS))
def test_the_dead_letter_is_written_whatever_the_record(tmp_path, raw):
    rt = Runtime(parse({"data_dir": str(tmp_path)}), counters=Counters())
    rt.dead_letter("collect", raw, "a reason", "src")
    (letter,) = [codec.loads(r.value) for r in rt.bus.records(rt.topic("deadletter"))]
    assert letter["reason"] == "a reason" and letter["raw"]
    assert len(orjson.dumps(letter["raw"])) <= 2 * RAW_LIMIT + 100
    assert rt.counters.get("collect.deadletter") == 1


def test_a_record_that_can_be_json_stays_json():
    rec = {"eventName": "x", "nested": [{"a": 1}]}
    assert letter_raw(rec) == rec
