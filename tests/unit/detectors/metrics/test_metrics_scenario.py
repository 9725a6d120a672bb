"""The bundled incident scenario (collectors.scenario): the metric incidents are found, in time,
by the detectors meant for them, and nothing else in the metric streams is flagged."""
import pytest

from core import registry

scenario = pytest.importorskip("collectors.scenario")


@pytest.fixture(scope="module")
def metric_events():
    from collectors.formats import parse_record
    out = []
    for fmt, rec in scenario.iter_records():
        if fmt == "event":
            out += [e for e in parse_record(rec, fmt, "scenario/test") if e.kind == "metric"]
    return out


@pytest.fixture(scope="module")
def truth():
    return {g["id"]: g for g in scenario.ground_truth()}


CASES = [
    # detector, incident, metric, max minutes to the first finding
    ("baseline", "gpu-memory-leak", "gpu.memory.used", 35),
    ("gpu_memory_leak", "gpu-memory-leak", "gpu.memory.used", 20),
    ("baseline", "training-straggler", "training.step.duration", 2),
    ("straggler", "training-straggler", "training.step.duration", 10),
    ("baseline", "latency-regression", "http.server.request.duration", 2),
    ("slo_burn", "latency-regression", "slo_burn:latency", 5),
]


@pytest.mark.parametrize("typ,incident,rule,minutes", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_scenario_incident_found_in_time_without_false_alerts(metric_events, truth, typ, incident, rule, minutes):
    g = truth[incident]
    d = registry.create("detector", f"{typ}/scenario", {})
    found = d.process([e for e in metric_events if d.accepts(e)])
    hits = [f for f in found if f.entity == g["entity"] and f.rule == rule]
    assert hits, f"{typ} missed {incident}"
    first = min(f.time for f in hits)
    assert g["start"] <= first <= g["start"] + 60 * minutes
    # every finding of this detector belongs to a metric incident (a few minutes' grace at the end)
    spans = [(x["start"], x["end"] + 600, x["entity"]) for x in truth.values() if x["family"] == "metrics"]
    stray = [f for f in found if not any(a <= f.time <= b and f.entity == ent for a, b, ent in spans)]
    assert stray == []


UNIT_IN_TITLE = {"gpu.memory.used": r"\d GiB", "training.step.duration": r"\d(\.\d+)?s ",
                 "http.server.request.duration": r"\d ms vs baseline", "slo_burn:latency": r"\dx budget"}


@pytest.mark.parametrize("typ,incident,rule,minutes", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_titles_show_values_for_people_and_evidence_keeps_them_raw(metric_events, typ, incident, rule, minutes):
    """Titles read `66.7 GiB vs baseline 62.0 GiB`, `123.2 ms`, not `7.16e+10` or `0.1232`."""
    import re
    d = registry.create("detector", f"{typ}/scenario", {})
    found = [f for f in d.process([e for e in metric_events if d.accepts(e)]) if f.rule == rule]
    assert found
    for f in found:
        assert not re.search(r"\d[eE][+-]?\d", f.title), f.title                  # no scientific notation
        assert not re.search(r"\d\.\d{4,}", f.title), f.title                     # no long raw fractions
        assert re.search(UNIT_IN_TITLE[rule], f.title), f.title
        raw = f.evidence.get("value", f.evidence.get("recent"))
        assert raw is None or isinstance(raw, float) and raw == raw
