"""The decide stage's episode as a typed record: what the checkpoint state holds reads back equal,
and an episode written before a field existed reads with that field's default."""
from __future__ import annotations

import dataclasses

import orjson
import pytest

from policy.episode import Episode

OLD = {"id": "a1", "policy": "p", "group_key": "g", "entity": "n1", "detector": "d/x", "rule_title": "t",
       "description": "", "severity": "high", "first_seen": 1.0, "last_seen": 2.0, "count": 2,
       "finding_ids": ["f1", "f2"], "event_ids": ["e1"], "tags": ["x"], "evidence": {"metric": "m"},
       "emitted_count": 2, "emitted_severity": "high"}


def test_an_episode_round_trips_through_the_state_with_every_field():
    ep = Episode(**{**OLD, "seen": ["f1", "f2"], "labels": {"severity": "high"}, "status": "suppressed",
                    "suppressed_by": "silence:s1", "steps": [{"rule": "r", "count": 2}], "steps_omitted": 1,
                    "corr_keys": ["k"], "watermark": 9.0, "counted_suppressed_upto": 2})
    back = Episode.from_json(ep.to_json())
    assert back == ep
    assert set(orjson.loads(ep.to_json())) == {f.name for f in dataclasses.fields(Episode)}


def test_an_episode_from_an_older_state_gets_the_defaults_and_unknown_keys_are_ignored():
    ep = Episode.from_json(orjson.dumps({**OLD, "from_the_future": 1}))
    assert ep.seen == ["f1", "f2"] and ep.seen is not ep.finding_ids    # redelivery dedup knows them
    assert ep.status == "firing" and ep.labels == {} and ep.steps == [] and ep.corr_keys == []
    assert ep.counted_suppressed_upto is None and ep.watermark == 0.0
    assert Episode.from_json(orjson.dumps({**OLD, "emitted_count": 0})).status == ""


def test_an_episode_missing_a_required_field_is_refused():
    with pytest.raises(TypeError, match="entity"):
        Episode.from_json(orjson.dumps({k: v for k, v in OLD.items() if k != "entity"}))
