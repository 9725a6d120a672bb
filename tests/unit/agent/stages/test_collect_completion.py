"""Collectors report their own completion: the collect stage reads `finished`, never sets it."""
from __future__ import annotations

from agent.config import parse
from core.counters import Counters
from core.event import Event
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from collectors.base import Collector


class Chunked(Collector):
    """A bounded input read in `chunks` calls, one event each: finished after the last."""
    type = "chunked"
    bounded = True

    def __init__(self, name: str, chunks: int) -> None:
        super().__init__(name)
        self.left, self.calls = chunks, 0

    def run_once(self) -> int:
        self.calls += 1
        self.emitter.emit(Event.create(source="t", kind="log", entity="e", name="n", time=1.7e9 + self.left))
        self.left -= 1
        self.finished = self.left == 0
        return 1


class Endless(Chunked):
    bounded = False

    def run_once(self) -> int:
        self.calls += 1
        return 0


def _collect(tmp_path, *collectors):
    cfg = parse({"data_dir": str(tmp_path)})
    p = Pipeline(cfg, stages=("collect",), runtime=Runtime(cfg, counters=Counters()), collectors=list(collectors),
                 http=False)
    return p, p.stages[0]


def test_a_bounded_collector_is_run_until_it_says_it_is_finished(tmp_path):
    chunked, endless = Chunked("chunked/a", 3), Endless("endless/b", 0)
    p, collect = _collect(tmp_path, chunked, endless)
    counts = [collect.step() for _ in range(5)]
    assert counts == [1, 1, 1, 0, 0] and chunked.calls == 3 and chunked.finished
    assert endless.calls == 5 and not endless.finished          # unbounded: run on every step
    assert not collect.bounded_done                             # an unbounded collector never is
    assert p.rt.counters.get("collect.events") == 3
    p.close()


def test_the_bounded_collectors_of_the_package_finish_in_one_run(tmp_path):
    from collectors.scenario.collector import ScenarioCollector
    c = ScenarioCollector("scenario/t", hours=0.05)
    p, collect = _collect(tmp_path, c)
    assert not c.finished
    first = collect.step()
    assert first > 0 and c.finished and collect.bounded_done
    assert collect.step() == 0
    c.finished = False                                          # asked to read its input again
    assert collect.step() == first
    p.close()
