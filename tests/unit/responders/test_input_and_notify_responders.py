"""Blocklist (durable, expiring, published), retrain (topic + webhook, cooldown), grouped
Alertmanager webhook payload with HMAC, Slack message."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from agent.config import parse
from core.counters import Counters
from core.errors import ConfigError
from core.event import Alert
from agent.runtime import Runtime
from responders.base import ResponderError
from responders.blocklist import BlockList, BlocklistResponder
from responders.retrain import RetrainResponder
from responders.slack import SlackResponder
from responders.webhook import WebhookResponder


class Sink:
    """A local HTTP endpoint that records what it is sent."""

    def __init__(self, code=200):
        self.got: list[tuple[dict, bytes]] = []
        sink = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.got.append((dict(self.headers), body))
                self.send_response(code)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


@pytest.fixture
def rt(tmp_path):
    r = Runtime(parse({"data_dir": str(tmp_path / "w")}), counters=Counters())
    yield r
    r.close()


def alert(aid="c" * 32, entity="llm-chat", status="firing", **kw):
    base = dict(id=aid, rule="prompt-injection", title="prompt injection on llm-chat", severity="high", entity=entity,
                group_key="g", status=status, first_seen=100.0, last_seen=200.0,
                evidence={"client.id": "trial-user-7", "api_key.id": "k1", "model": "llama-3-8b"},
                labels={"alertname": "prompt-injection", "client": "trial-user-7"})
    base.update(kw)
    return Alert(**base)


def act_for(r, a, **params):
    [x] = r.plan(a, {"responder": r.name, "dry_run": False, "params": params})
    return x


def test_blocklist_store_expiry_and_api_key_hashing(tmp_path):
    bl = BlockList(tmp_path / "b.db")
    bl.add("client", "c1", "abuse", ttl=60, now=1000)
    bl.add("api_key", "sk-secret", "leaked", ttl=None, now=1000)
    bl.add("fingerprint", "fp1", "jailbreak", ttl=10, now=1000)
    assert bl.is_blocked(client_id="c1", now=1030) == "client blocked until 1970-01-01T00:17:40Z: abuse"
    assert bl.is_blocked(client_id="c1", now=1061) is None                   # expired
    assert bl.is_blocked(api_key="sk-secret", now=10 ** 10).startswith("api_key blocked")
    assert bl.is_blocked(fingerprint="fp1", now=1005) and not bl.is_blocked(fingerprint="fp1", now=1011)
    assert bl.is_blocked() is None and bl.is_blocked(client_id="other") is None
    stored = {r["kind"]: r["value"] for r in bl.list(include_expired=True)}
    assert stored["api_key"] == hashlib.sha256(b"sk-secret").hexdigest()    # never in clear
    assert BlockList(tmp_path / "b.db").is_blocked(api_key="sk-secret")      # durable, other connection
    assert bl.purge_expired(now=2000) == 2


def test_blocklist_responder_blocks_the_end_user_publishes_and_undoes(rt):
    r = BlocklistResponder("blocklist/t")
    r.bind_runtime(rt)
    a = alert(evidence={"enduser.id": "u-17", "client.id": "web-frontend", "api_key.id": "k1"})
    x = act_for(r, a, ttl="1h")                                   # default kind: user
    assert x.target == "end_user:u-17" and x.params["resource"]["principal"] == "u-17"
    res = r.execute(x, a)
    assert r.is_blocked(end_user="u-17").startswith("end_user blocked until ")
    assert res["expires_at"] is not None and res["kind"] == "end_user"
    assert r.is_blocked(client="web-frontend") is None              # the product stays up
    r.revert(dataclasses.replace(x, status="done", result=res))
    assert r.is_blocked(end_user="u-17") is None
    rt.producer.flush()
    msgs = [orjson.loads(m.value) for m in rt.bus.records(rt.topic("blocklist"))]
    assert [(m["op"], m["kind"], m["value"]) for m in msgs] == [("add", "end_user", "u-17"),
                                                                 ("remove", "end_user", "u-17")]
    with pytest.raises(ConfigError, match="kind must be one of"):
        BlocklistResponder.check_route({"kind": "ip"}, "p.routes[0]")


@pytest.mark.parametrize("evidence,target", [
    ({"enduser.id": "u-1", "session.id": "s-1", "api_key.id": "k-1", "client.id": "web-frontend"}, "end_user:u-1"),
    ({"session.id": "s-1", "api_key.id": "k-1", "client.id": "web-frontend"}, "session:s-1"),
    ({"client.id": "web-frontend"}, "end_user:?"),
])
def test_blocklist_user_kind_never_falls_back_to_the_client(rt, evidence, target):
    r = BlocklistResponder("blocklist/t")
    r.bind_runtime(rt)
    a = alert(evidence=evidence)
    x = act_for(r, a)
    assert x.target == target
    if target.endswith("?"):
        with pytest.raises(ResponderError, match="no end_user"):
            r.execute(x, a)


def test_blocklist_client_blocks_are_off_by_default_and_protected_clients_never(rt):
    r = BlocklistResponder("blocklist/t")
    r.bind_runtime(rt)
    a = alert(evidence={"client.id": "web-frontend"})
    x = act_for(r, a, kind="client")
    with pytest.raises(ResponderError, match="off"):
        r.execute(x, a)
    r2 = BlocklistResponder("blocklist/t2", block_clients=True, protected_clients=["web-frontend"])
    r2.bind_runtime(rt)
    x = act_for(r2, a, kind="client")
    assert "refused" in x.target
    with pytest.raises(ResponderError, match="protected"):
        r2.execute(x, a)
    b = alert(evidence={"client.id": "trial-bot"})
    assert r2.execute(act_for(r2, b, kind="client", ttl="30d"), b)["expires_at"] <= time.time() + 7 * 86400 + 5
    with pytest.raises(ConfigError):
        BlocklistResponder("blocklist/bad", default_ttl=0)


def test_retrain_publishes_posts_signed_and_respects_cooldown(rt, sink):
    from responders.base import SkipAction
    r = RetrainResponder("retrain/t", url=sink.url, secret="s3", cooldown_s=3600)
    r.bind_runtime(rt)
    a = alert(rule="model-drift", title="drift on llm-chat", evidence={"model": {"name": "llama-3-8b", "version": "4"},
                                                                       "drifting_features": ["prompt.length"]})
    x = act_for(r, a)
    assert x.target == "model:llama-3-8b@4"
    res = r.execute(x, a)
    assert res["status_code"] == 200 and res["topic"] == rt.topic("retrain")
    headers, body = sink.got[0]
    assert headers["X-Warden-Signature"] == "sha256=" + hmac.new(b"s3", body, hashlib.sha256).hexdigest()
    sent = json.loads(body)
    assert sent["model"] == {"name": "llama-3-8b", "version": "4", "endpoint": "llm-chat"}
    assert sent["drift_report"]["drifting_features"] == ["prompt.length"] and sent["alert"]["id"] == a.id
    with pytest.raises(SkipAction, match="cooldown until"):
        r.execute(act_for(r, dataclasses.replace(a, id="d" * 32)), a)          # a second drift alert
    rt.producer.flush()
    assert len(rt.bus.records(rt.topic("retrain"))) == 1 and len(sink.got) == 1
    r2 = RetrainResponder("retrain/t", cooldown_s=3600)                       # a restarted agent remembers
    r2.bind_runtime(rt)
    with pytest.raises(SkipAction):
        r2.execute(x, a)


def test_webhook_group_payload_is_alertmanager_shaped_and_signed(sink):
    r = WebhookResponder("webhook/oncall", url=sink.url, secret="k")
    a1, a2 = alert(), alert(aid="e" * 32, entity="fraud-scorer", status="resolved")
    x = act_for(r, a1)
    x = dataclasses.replace(x, params={**x.params, "notification": "n1"})
    r.notify([a1, a2], {"alertname": "prompt-injection"}, x)
    headers, body = sink.got[0]
    assert headers["X-Warden-Signature"] == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    p = json.loads(body)
    assert p["version"] == "4" and p["status"] == "firing" and p["groupLabels"] == {"alertname": "prompt-injection"}
    assert [x["status"] for x in p["alerts"]] == ["firing", "resolved"]
    assert p["commonLabels"]["alertname"] == "prompt-injection" and "entity" not in p["commonLabels"]
    assert p["alerts"][0]["labels"]["client"] == "trial-user-7"
    r.close()


def test_slack_message(sink):
    r = SlackResponder("slack/t", url=sink.url, channel="#oncall")
    res = r.notify([alert(), alert(aid="f" * 32, entity="fraud-scorer")], {"alertname": "prompt-injection"},
                   act_for(r, alert()))
    assert res["status_code"] == 200 and res["alerts"] == 2 and res["idempotency_key"].startswith("g-")
    assert sink.got[0][0]["Idempotency-Key"] == res["idempotency_key"]
    msg = json.loads(sink.got[0][1])
    assert msg["channel"] == "#oncall" and msg["text"].startswith("[FIRING:2] alertname=prompt-injection")
    assert "fraud-scorer" in msg["blocks"][1]["text"]["text"]


def test_failing_endpoints_are_classified(sink):
    from responders.base import ResponderError
    bad = Sink(code=503)
    try:
        with pytest.raises(ResponderError) as e:
            SlackResponder("slack/t", url=bad.url).notify([alert()], {}, act_for(SlackResponder("slack/t", url=bad.url), alert()))
        assert e.value.retryable
    finally:
        bad.close()
