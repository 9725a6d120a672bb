"""Golden audit normalisation and detection: fixed records -> exact events (ECS attributes) and the
exact warden rule findings. Regenerate after a reviewed, intended change with
`WARDEN_UPDATE_GOLDEN=1 pytest tests/golden/audit`."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from collectors.formats import parse_record
from detectors.sigma.engine import SigmaEngine
from detectors.sigma.detector import BUILTIN_RULES

HERE = Path(__file__).parent
CASES = json.loads((HERE / "cases.json").read_text())
GOLDEN = HERE / "expected.json"
UPDATE = os.environ.get("WARDEN_UPDATE_GOLDEN") == "1"


def _summary(case: dict, engine: SigmaEngine) -> dict:
    events = parse_record(case["record"], case["format"], "golden/audit")
    out = []
    for ev in events:
        attrs = {k: v for k, v in sorted(ev.attributes.items()) if k not in ("raw", "audit.record", "audit.k8s")}
        findings = sorted((f.rule, f.title, f.severity) for f in engine.process([ev]))
        out.append({"id": ev.id, "entity": ev.entity, "name": ev.name, "time": ev.time, "attributes": attrs,
                    "has_k8s_view": "audit.k8s" in ev.attributes, "findings": [list(f) for f in findings]})
    return {"events": out}


@pytest.fixture(scope="module")
def actual() -> dict:
    engine = SigmaEngine(lateness=3600).load_paths([BUILTIN_RULES])
    assert not engine.errors
    got = {c["name"]: _summary(c, engine) for c in CASES}
    if UPDATE:
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    return got


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_golden(actual, name):
    expected = json.loads(GOLDEN.read_text())
    assert actual[name] == expected[name]
