"""Delivery buffers (backoff, bound, expiry, state round trip), the grouping's accept filter, and
the silence cache serving the last known silences while the store is unreachable."""
from __future__ import annotations

import socket
import time
from types import SimpleNamespace

from core.counters import Counters
from core.event import Alert
from agent.stages.act.delivery import DeliveryPolicy, DeliveryQueue, restore_entries
from agent.stages.act.grouping import NotificationGroups
from policy.silences import ElasticsearchSilenceStore, Silence, SilenceCache, SqliteSilenceStore
from core.state import StateStore
from responders.webhook import WebhookResponder


def entry(i: int, responder="webhook/t") -> dict:
    return {"id": f"n{i}", "responder": responder, "key": f"k{i}", "group": {}, "alerts": [], "actions": [],
            "enqueued_at": 100.0 + i, "next_at": 0.0}


def test_backoff_doubles_caps_and_yields_to_a_longer_retry_after():
    p = DeliveryPolicy(retry_initial_s=1, retry_max_s=10)
    assert [p.backoff(n) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 4, 8, 10, 10]
    assert p.backoff(1, retry_after=30) == 30 and p.backoff(4, retry_after=2) == 8


def test_policy_comes_from_the_notifier_config():
    r = WebhookResponder("webhook/t", url="http://127.0.0.1:9/", max_buffer=7, retry_initial_s=0.5,
                         retry_max_s=5, give_up_after_s=60)
    assert DeliveryPolicy.of(r) == DeliveryPolicy(7, 0.5, 5.0, 60.0)
    assert DeliveryPolicy.of(SimpleNamespace(config=SimpleNamespace(level="info"))) == DeliveryPolicy()


def test_queue_is_fifo_bounded_and_schedules_retries():
    q = DeliveryQueue("webhook/t", DeliveryPolicy(max_buffer=2, retry_initial_s=1, retry_max_s=4,
                                                  give_up_after_s=100))
    q.push(entry(1))
    assert not q.full()
    q.push(entry(2))
    assert q.full() and len(q) == 2 and "n1" in q and q.head()["id"] == "n1"
    e = q.due(50.0)
    q.attempted(e, 50.0)
    assert q.retry_later(e, 50.0, "503") == 1 and q.due(50.5) is None and q.due(51.0) is e
    q.attempted(e, 51.0)
    assert q.retry_later(e, 51.0, "503", retry_after=9) == 9 and q.next_at() == 60.0
    assert not q.expired(e, 149.0) and q.expired(e, 150.0)      # 100 s after the first attempt
    assert e["attempts"] == 2 and e["first_attempt_at"] == 50.0 and e["last_error"] == "503"
    q.pop(e)
    assert q.head()["id"] == "n2" and not q.full()


def test_queue_state_round_trip_keeps_order_and_deletes_delivered(tmp_path):
    st = StateStore(tmp_path / "state.db")
    q = DeliveryQueue("webhook/t", DeliveryPolicy())
    for i in (3, 1, 2):
        q.push(entry(i))
    st.put_many(q.snapshot_items("act:delivery"))
    q.pop(q.head())                                   # n3 delivered
    st.put_many(q.snapshot_items("act:delivery"))
    got = restore_entries(st, "act:delivery")
    assert list(got) == ["webhook/t"] and [e["id"] for e in got["webhook/t"]] == ["n1", "n2"]
    assert q.snapshot_items("act:delivery") == []     # nothing dirty any more
    st.close()


def alert(aid: str, entity: str, status="firing") -> Alert:
    return Alert(id=aid, rule="p", title="t", severity="high", entity=entity, group_key=entity, status=status,
                 first_seen=0.0, last_seen=0.0, labels={"alertname": "p", "entity": entity})


def test_groups_refused_by_accept_stay_due_until_there_is_room():
    g = NotificationGroups()
    route = {"responder": "webhook/t", "dry_run": False, "notify": {"group_by": ["entity"], "group_wait": 0}}
    for i in range(3):
        g.add(alert(f"a{i}", f"e{i}"), route, 0.0)
    room = {"n": 1}

    def accept(name, r):
        assert name == "webhook/t" and r["dry_run"] is False
        room["n"] -= 1
        return room["n"] >= 0

    assert len(g.due(1.0, accept=accept)) == 1 and g.deferred == 2 and g.pending() == 2
    assert len(g.due(1.0)) == 2 and g.pending() == 0      # room again: the deferred ones go out


def test_silence_cache_serves_the_last_known_set_while_the_store_is_down(tmp_path):
    st = SqliteSilenceStore(tmp_path / "w.db")
    s = Silence.new(["alertname=x"], duration=3600)
    st.add(s)
    counters, now = Counters(), {"t": 0.0}
    cache = SilenceCache(st, refresh_s=1, retry_s=10, counters=counters, clock=lambda: now["t"])
    assert cache.match({"alertname": "x"}).id == s.id and not cache.stale
    st.db.close()                                     # the store goes away
    now["t"] = 2.0
    assert cache.match({"alertname": "x"}).id == s.id   # cached silence still applies
    assert cache.stale and "closed database" in cache.last_error
    assert counters.get("decide.silences_refresh_errors") == 1 and counters.get("decide.silences_stale_reads") == 1
    now["t"] = 5.0
    cache.refresh(force=True)                         # backing off: the store is not asked again yet
    assert cache.match({"alertname": "y"}) is None
    assert counters.get("decide.silences_refresh_errors") == 1 and counters.get("decide.silences_stale_reads") == 2
    cache.store = SqliteSilenceStore(tmp_path / "w.db")  # back
    now["t"] = 12.5
    assert cache.match({"alertname": "x"}).id == s.id and not cache.stale
    assert counters.get("decide.silences_stale_reads") == 2


def test_unreachable_elasticsearch_silence_store_is_a_bounded_stale_read():
    with socket.socket() as sk:
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    store = ElasticsearchSilenceStore(SimpleNamespace(index_prefix="w", hosts=[f"http://127.0.0.1:{port}"],
                                                      api_key=None, ca_certs=None, verify_certs=True))
    counters = Counters()
    cache = SilenceCache(store, counters=counters)
    t0 = time.monotonic()
    assert cache.match({"alertname": "x"}) is None
    assert time.monotonic() - t0 < 5 and cache.stale
    assert counters.get("decide.silences_refresh_errors") == 1 and counters.get("decide.silences_stale_reads") == 1
    store.close()


def test_decide_keeps_silencing_from_the_cache_while_the_store_is_down(tmp_path):
    from core.counters import COUNTERS
    from policy.silences import open_silences
    from tests.unit.agent.lifecycle.harness import Harness, finding
    h = Harness(tmp_path, """
policies:
  - id: p
    match: {detector: ["gpu_memory_leak/*"]}
    alert: {group_by: [entity]}
""")
    open_silences(h.cfg).add(Silence.new(["alertname=p"], duration=3600))
    h.feed(finding("n1"))
    assert [a.status for a in h.alerts()] == ["suppressed"]
    cache = h.decide.silences
    cache.store.db.close()                            # the silence store becomes unreachable
    cache.refresh_s = 0
    stale0 = COUNTERS.get("decide.silences_stale_reads")
    h.feed(finding("n2", t=1001))
    assert sorted(a.status for a in h.alerts()) == ["suppressed", "suppressed"] and cache.stale
    assert COUNTERS.get("decide.silences_stale_reads") > stale0
    h.decide._silences = None                         # do not close the already closed store
    h.close()


def test_silence_cache_retries_a_failing_store_less_and_less_often(tmp_path):
    st = SqliteSilenceStore(tmp_path / "w.db")
    st.db.close()
    counters, now = Counters(), {"t": 0.0}
    cache = SilenceCache(st, refresh_s=1, retry_s=5, retry_max_s=20, counters=counters, clock=lambda: now["t"])
    tries = []
    for t in range(0, 80):
        now["t"] = float(t)
        before = counters.get("decide.silences_refresh_errors")
        cache.refresh(force=True)
        if counters.get("decide.silences_refresh_errors") > before:
            tries.append(t)
    assert tries == [0, 5, 15, 35, 55, 75]             # 5, 10, 20, then capped at 20
