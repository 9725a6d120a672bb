"""core.times, the one time parser: what each input means and how each failure is reported."""
from __future__ import annotations

import math

import pytest

from core.times import TimeFormatError, iso_to_epoch, parse_time, parse_time_or_none, rfc3339_to_epoch

T = 1767571200.0      # 2026-01-05T00:00:00Z


@pytest.mark.parametrize("value", [T, int(T), T * 1e3, T * 1e6, T * 1e9, str(int(T)), f" {T * 1e3:.0f} ",
                                   "2026-01-05T00:00:00Z", "2026-01-05T00:00:00z", "2026-01-05 00:00:00",
                                   "2026-01-05T01:00:00+01:00", "2026-01-05T00:00:00.000000000Z"])
def test_every_spelling_of_one_instant_reads_the_same(value):
    assert parse_time(value) == pytest.approx(T) and parse_time_or_none(value) == pytest.approx(T)


@pytest.mark.parametrize("value, reason", [
    (True, "invalid time True"), (-1, "invalid time -1"), (math.nan, "invalid time nan"), (10 ** 400, "invalid time"),
    ("", "expected epoch seconds or ISO-8601"), ("yesterday", "expected epoch seconds or ISO-8601"),
    ("nan", "expected epoch seconds or ISO-8601"), (None, "expected epoch seconds or ISO-8601"),
    ([T], "expected epoch seconds or ISO-8601")])
def test_what_is_no_time_raises_with_the_reason_or_answers_none(value, reason):
    with pytest.raises(TimeFormatError, match=reason):
        parse_time(value)
    assert parse_time_or_none(value) is None


def test_iso_fractions_beyond_microseconds_are_trimmed_and_no_zone_is_utc():
    assert iso_to_epoch("2026-01-05T00:00:00.1234567") == pytest.approx(T + 0.123456)
    with pytest.raises(ValueError):
        iso_to_epoch("05/01/2026")


def test_rfc3339_is_strict_and_keeps_nanoseconds():
    assert rfc3339_to_epoch("2026-01-05T00:00:00.123456789Z") == pytest.approx(T + 0.123456789, abs=1e-7)
    assert rfc3339_to_epoch("2026-01-05T02:00:00+02:00") == T
    for bad in ("2026-01-05T00:00:00", "2026-01-05 00:00:00Z", T, None):
        with pytest.raises(TimeFormatError, match="not an RFC 3339 time"):
            rfc3339_to_epoch(bad)
    with pytest.raises(TimeFormatError):
        rfc3339_to_epoch("2026-13-05T00:00:00Z")
