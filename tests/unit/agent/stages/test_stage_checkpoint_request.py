"""Stage.request_checkpoint: state changed without a record is checkpointed by the next step (and
by close); reset_consumer forgets what was not committed."""
from __future__ import annotations

import pytest

from agent.config import parse
from core.counters import Counters
from agent.runtime import Runtime
from agent.stages.base import Stage


class Counting(Stage):
    """A stage that handles alerts by counting them and snapshots a marker."""
    name = "counting"
    input_topics = ("alerts",)

    def __init__(self, rt) -> None:
        super().__init__(rt)
        self.snapshots = 0

    def handle(self, records) -> None:
        pass

    def snapshot_state(self) -> None:
        self.snapshots += 1


@pytest.fixture
def stage(tmp_path):
    rt = Runtime(parse({"data_dir": str(tmp_path / "w")}), counters=Counters())
    rt.create_topics()
    s = Counting(rt)
    yield s
    s.close()
    rt.close()


def test_an_idle_step_checkpoints_only_when_asked(stage):
    stage.step(0)
    assert stage.snapshots == 0 and not stage.checkpoint_pending
    stage.request_checkpoint()
    assert stage.checkpoint_pending
    stage.step(0)
    assert stage.snapshots == 1 and not stage.checkpoint_pending
    stage.step(0)
    assert stage.snapshots == 1


def test_records_and_a_request_are_one_checkpoint_and_the_commit_covers_the_records(stage):
    rt = stage.rt
    for i in range(3):
        rt.producer.send(rt.topic("alerts"), b"%d" % i, b"k")
    stage.request_checkpoint()
    assert stage.step(0) == 3 and stage.step(0) == 0          # checkpoints at the first empty poll
    assert stage.snapshots == 1 and sum(rt.bus.committed(stage.group, rt.topic("alerts")).values()) == 3


def test_close_checkpoints_a_request_and_reset_consumer_forgets_it(stage):
    stage.step(0)
    stage.request_checkpoint()
    stage.reset_consumer()
    assert stage.consumer is None and not stage.checkpoint_pending
    stage.step(0)
    stage.request_checkpoint()
    stage.close()
    assert stage.snapshots == 1
