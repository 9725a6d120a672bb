"""The demo with the `alertmanager` notifier on: the bundled scenario through the embedded pipeline
(`warden demo`'s config) with every built-in policy also routed to a real Alertmanager (v0.35.0).
Alertmanager then holds exactly warden's open alerts — same ids, labels and severities — and none of
the resolved ones."""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from core.alertmanager import labels_of
from agent.cli.run import demo_config
from core.counters import Counters
from agent.pipeline import Pipeline
from agent.runtime import Runtime
from core.stores import AlertQuery
from policy.policies import BUILTIN_DIR
from tests.support.alertmanager_bin import Alertmanager, bin_dir, wait_for

ROUTE = {"responder": "alertmanager/demo", "dry_run": False,
         "notify": {"group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s"}}


def policies_with_alertmanager(dest: Path) -> Path:
    """The built-in policies, each with one more route: to Alertmanager."""
    dest.mkdir(parents=True)
    for f in sorted(Path(BUILTIN_DIR).glob("*.y*ml")):
        doc = yaml.safe_load(f.read_text())
        for p in doc["policies"]:
            p["routes"] = [*p.get("routes", []), dict(ROUTE)]
        (dest / f.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    for extra in Path(BUILTIN_DIR).glob("*.md"):
        shutil.copy(extra, dest)
    return dest


def test_the_demos_open_alerts_are_in_alertmanager(tmp_path):
    am = Alertmanager(bin_dir() / "alertmanager", tmp_path / "am")
    try:
        cfg = demo_config(str(tmp_path / "demo"), hours=6, seed=7)
        cfg.policies = [str(policies_with_alertmanager(tmp_path / "policies"))]
        cfg.responders = {"alertmanager/demo": {"url": am.url, "resend_interval_s": 3600}}
        p = Pipeline(cfg, runtime=Runtime(cfg, counters=Counters()))
        p.drain()
        alerts = p.rt.store.list_alerts(AlertQuery(limit=10000))
        p.close()
        open_ = {a.id: a for a in alerts if a.status in ("firing", "acknowledged")}
        assert open_, "the demo opened no alert"

        def in_am():
            got = {x["labels"]["warden_alert_id"]: x for x in am.alerts()}
            return got if set(got) == set(open_) else None
        got = wait_for(in_am, timeout=30) or {x["labels"]["warden_alert_id"]: x for x in am.alerts()}
        assert set(got) == set(open_), (f"missing in Alertmanager: {sorted(set(open_) - set(got))}; "
                                        f"not open in warden: {sorted(set(got) - set(open_))}")
        for aid, x in got.items():
            assert x["labels"] == labels_of(open_[aid])
            assert x["status"]["state"] == "active"
        resolved = {a.id for a in alerts if a.status == "resolved"}
        assert not resolved & set(got)
    finally:
        am.close()
