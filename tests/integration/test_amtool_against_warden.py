"""The real amtool (v0.35.0) against the Alertmanager v2 API warden serves (`warden run` with
http enabled: the pipeline's own HTTP server, bearer token through amtool's --http.config.file),
over SQLite and over the real Elasticsearch: `alert query`, `silence add`, `silence query`,
`silence expire` work, and a silence made with amtool is one decide honours."""
from __future__ import annotations

import json
import subprocess

import pytest

from agent.config import parse
from core.event import Alert
from policy.silences import open_silences
from agent.pipeline import Pipeline
from core.stores import create_store
from tests.integration.conftest import _clean_up
from tests.support.alertmanager_bin import bin_dir

TOKEN = "amtool-secret-token"


def alerts(now: float) -> list[Alert]:
    def one(aid, rule, entity, status="firing"):
        return Alert(id=aid * 32, rule=rule, title=f"{rule} on {entity}", severity="high", entity=entity,
                     group_key=entity, status=status, first_seen=now - 300, last_seen=now - 30, detector="d/x",
                     labels={"alertname": rule, "severity": "high", "entity": entity}, updated=now - 30,
                     routes=({"responder": "webhook/oncall", "dry_run": False},))
    return [one("a", "gpu-memory-leak", "gpu-node-3"), one("b", "gpu-memory-leak", "gpu-node-4"),
            one("c", "prompt-injection", "llm-chat"), one("d", "straggler", "gpu-node-2", "resolved")]


@pytest.fixture(params=["sqlite", "elasticsearch"])
def warden(request, tmp_path, run_id):
    store = {"type": "sqlite"}
    if request.param == "elasticsearch":
        stack = request.getfixturevalue("stack")
        store = {"type": "elasticsearch", "hosts": [stack["es"]], "index_prefix": f"warden-am{run_id}"}
    cfg = parse({"data_dir": str(tmp_path / "w"), "store": store,
                 "http": {"enabled": True, "port": 0, "token": TOKEN, "metrics": False}})
    import time
    s = create_store(cfg)
    s.start()
    s.upsert_alerts(alerts(time.time()))
    s.flush()
    p = Pipeline(cfg, stages=("collect",), collectors=[])
    p.http.start()
    host, port = p.http.address
    yield cfg, f"http://{host}:{port}"
    p.http.close()
    s.close()
    if request.param == "elasticsearch":
        _clean_up(cfg)


@pytest.fixture(scope="module")
def amtool_bin():
    return bin_dir() / "amtool"


def amtool(amtool_bin, url, tmp_path, *args) -> str:
    http_cfg = tmp_path / "amtool-http.yml"
    http_cfg.write_text(f"authorization:\n  type: Bearer\n  credentials: {TOKEN}\n")
    r = subprocess.run([str(amtool_bin), f"--alertmanager.url={url}", f"--http.config.file={http_cfg}", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"amtool {' '.join(args)}: {r.stderr}"
    return r.stdout


def test_amtool_alert_query_and_silences(warden, amtool_bin, tmp_path):
    cfg, url = warden
    got = json.loads(amtool(amtool_bin, url, tmp_path, "alert", "query", "-o", "json"))
    assert sorted(a["labels"]["warden_alert_id"][0] for a in got) == ["a", "b", "c"]   # resolved d is gone
    got = json.loads(amtool(amtool_bin, url, tmp_path, "alert", "query", "-o", "json", "alertname=gpu-memory-leak",
                            "entity=~gpu-node-[34]"))
    assert sorted(a["labels"]["entity"] for a in got) == ["gpu-node-3", "gpu-node-4"]

    sid = amtool(amtool_bin, url, tmp_path, "silence", "add", "alertname=gpu-memory-leak", "entity=~gpu-node-.*",
                 "--duration=2h", "--comment=driver upgrade", "--author=ana").strip()
    assert len(sid) >= 8
    s = open_silences(cfg).get(sid)           # the silence decide reads
    assert s is not None and s.comment == "driver upgrade" and s.created_by == "ana"
    assert s.silences({"alertname": "gpu-memory-leak", "entity": "gpu-node-9"})
    assert not s.silences({"alertname": "prompt-injection", "entity": "gpu-node-9"})

    listed = json.loads(amtool(amtool_bin, url, tmp_path, "silence", "query", "-o", "json"))
    assert [x["id"] for x in listed] == [sid] and listed[0]["status"]["state"] == "active"
    assert amtool(amtool_bin, url, tmp_path, "silence", "query", "-q").split() == [sid]
    # silenced alerts are hidden by default, shown with --silenced
    shown = json.loads(amtool(amtool_bin, url, tmp_path, "alert", "query", "-o", "json"))
    assert [a["labels"]["alertname"] for a in shown] == ["prompt-injection"]
    shown = json.loads(amtool(amtool_bin, url, tmp_path, "alert", "query", "--silenced", "-o", "json"))
    silenced = [a for a in shown if a["status"]["silencedBy"] == [sid]]
    assert sorted(a["labels"]["entity"] for a in silenced) == ["gpu-node-3", "gpu-node-4"]

    amtool(amtool_bin, url, tmp_path, "silence", "expire", sid)
    assert open_silences(cfg).get(sid).state() == "expired"
    assert amtool(amtool_bin, url, tmp_path, "silence", "query", "-q").split() == []
    assert amtool(amtool_bin, url, tmp_path, "silence", "query", "--expired", "-q").split() == [sid]
    assert len(json.loads(amtool(amtool_bin, url, tmp_path, "alert", "query", "-o", "json"))) == 3


def test_amtool_without_the_token_is_refused(warden, amtool_bin):
    _, url = warden
    r = subprocess.run([str(amtool_bin), f"--alertmanager.url={url}", "alert", "query"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "401" in (r.stderr + r.stdout)
