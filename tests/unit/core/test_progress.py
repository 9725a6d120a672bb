"""Progress bars on long work (core.progress): drawn with rich on a terminal when asked, never
otherwise, and the work's result is the same either way."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from core.progress import Bar, track


class Terminal(io.StringIO):
    """stderr as a terminal would be (rich draws on it); what was drawn stays readable."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty, enabled, drawn", [(True, True, True), (True, False, False), (False, True, False)])
def test_a_bar_is_drawn_only_on_a_terminal_when_asked(monkeypatch, tty, enabled, drawn):
    err = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with Bar("guard score", 3, enabled=enabled) as bar:
        bar.update(2)
        bar.describe("batch 2")
        assert bar.shown == drawn
    assert list(track(range(4), "drift stream", enabled=enabled)) == [0, 1, 2, 3]
    out = err.getvalue()
    assert ("guard score: batch 2" in out and "2/3" in out and "drift stream" in out) == drawn
    assert out == "" or drawn


def test_drift_stream_finds_the_same_alarms_with_its_bar(monkeypatch, tmp_path):
    from detectors.drift.cli_support import stream
    rng = np.random.default_rng(1)
    (tmp_path / "ref.csv").write_text("a\n" + "\n".join(str(v) for v in rng.normal(0, 1, 600)) + "\n")
    values = np.concatenate([rng.normal(0, 1, 1000), rng.normal(1.0, 1, 1000)])
    (tmp_path / "s.csv").write_text("a\n" + "\n".join(str(v) for v in values) + "\n")
    plain = stream(tmp_path / "ref.csv", tmp_path / "s.csv", progress=False)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    shown = stream(tmp_path / "ref.csv", tmp_path / "s.csv", progress=True)
    assert shown["alarms"] and shown["alarms"] == plain["alarms"]
    assert "drift stream" in err.getvalue() and "/2000" in err.getvalue()
