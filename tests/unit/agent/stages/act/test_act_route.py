"""Route (typed, read back as the mapping it came from) and the responder set with check_routes."""
from __future__ import annotations

import pytest

from core.errors import ConfigError
from agent.stages.act.responders import ResponderSet, check_routes
from agent.stages.act.route import Route
from policy.policies import PolicySet
from tests.unit.agent.stages.act.conftest import Isolator, alert


def test_every_built_in_route_reads_back_as_the_mapping_it_came_from():
    routes = [r for p in PolicySet.load().policies for r in p.routes]
    assert routes
    for r in routes:
        route = Route.of(r)
        assert route.to_dict() == r and list(route.to_dict()) == list(r)     # same keys, same order
        assert dict(route) == r and route.responder == r["responder"] and route.is_dry_run == r["dry_run"]


def test_absent_keys_stay_absent_and_defaults_apply():
    route = Route.of({"responder": "isolator/t"})
    assert dict(route) == {"responder": "isolator/t"} and "auto_revert" not in route
    assert route.is_dry_run and route.param_values == {} and route.meta() == {"responder": "isolator/t"}
    with pytest.raises(KeyError):
        route["params"]
    real = Route.of({"responder": "x/y", "dry_run": False, "approval": True, "auto_revert": 60.0, "params": {"a": 1}})
    assert not real.is_dry_run and real.meta() == {"responder": "x/y", "approval": True, "auto_revert": 60.0}
    assert real.to_dict(notify=False) == dict(real) and Route.of(real) is real


def test_a_responder_plans_the_same_actions_from_a_route_as_from_its_mapping():
    r = Isolator("isolator/t")
    source = {"responder": "isolator/t", "dry_run": False, "params": {"why": "test"}}
    [from_map], [from_route] = r.plan(alert(), source), r.plan(alert(), Route.of(source))
    assert (from_map.id, from_map.dry_run, from_map.params) == (from_route.id, from_route.dry_run, from_route.params)


def test_responder_set_builds_a_missing_responder_with_defaults_once_and_refuses_one_needing_options():
    rs = ResponderSet([Isolator("isolator/t")])
    log = rs.get("log/default")
    assert rs.get("log/default") is log and set(rs.by_name) == {"isolator/t", "log/default"}
    with pytest.raises(ConfigError, match="policy.routes\\[0\\]: responder webhook/x is not configured"):
        rs.get("webhook/x", where="policy.routes[0]")


def test_check_routes_checks_every_route_without_a_stage(tmp_path):
    check_routes(PolicySet.load())
    f = tmp_path / "p.yaml"
    f.write_text("policies: [{id: a, routes: [{responder: aws_iam/default, params: {operation: nuke}}]}]")
    with pytest.raises(ConfigError, match="operation must be one of"):
        check_routes(PolicySet.load([str(f)]))
