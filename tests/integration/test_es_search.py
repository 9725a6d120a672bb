"""The Elasticsearch store's paged alert search (the web page's list) against the same filter in
Python, on the real Elasticsearch: effective status (workflow over pipeline, resolved wins over an
earlier ack), severity, detector type or name, entity, time range, free text, paging and total.
Free text on Elasticsearch covers id prefix, title, entity and rule (labels are not indexed)."""
from __future__ import annotations

import uuid

import pytest
import requests

from core.stores.search import AlertSearch
from tests.unit.agent.ui.test_ui_parts import _alerts

pytestmark = pytest.mark.integration

QUERIES = [AlertSearch(), AlertSearch(status="firing"), AlertSearch(status="acknowledged"),
           AlertSearch(status="resolved"), AlertSearch(severity="high"), AlertSearch(detector="sigma"),
           AlertSearch(detector="baseline/default"), AlertSearch(entity="alice"), AlertSearch(since=210.0),
           AlertSearch(until=105.0), AlertSearch(text="0003"), AlertSearch(text="gpu"),
           AlertSearch(limit=3, offset=4), AlertSearch(status="firing", severity="high", text="sigma")]


@pytest.fixture(scope="module")
def es_store():
    from agent.config import parse
    from core.stores import create_store
    es = "http://127.0.0.1:9200"
    try:
        requests.get(es + "/_cluster/health", timeout=2)
    except requests.RequestException:
        import os
        if os.environ.get("WARDEN_REQUIRE_STACK") == "1":
            pytest.fail("Elasticsearch not reachable")
        pytest.skip("Elasticsearch not running")
    prefix = f"warden-search{uuid.uuid4().hex[:8]}"
    store = create_store(parse({"store": {"type": "elasticsearch", "hosts": [es], "index_prefix": prefix}}))
    store.start()
    alerts = _alerts()
    store.upsert_alerts(alerts)
    store.flush()
    store.set_workflow(alerts[0].id, status="acknowledged", by="t")
    store.set_workflow(alerts[2].id, status="acknowledged", by="t")
    store.set_workflow(alerts[8].id, status="resolved", by="t")   # firing, resolved by hand
    yield store, [store.get_alert(a.id) for a in alerts]
    store.close()
    for suffix in ("alerts", "actions"):
        requests.delete(f"{es}/{prefix}-{suffix}", timeout=10)
        requests.delete(f"{es}/_index_template/{prefix}-{suffix}", timeout=10)


@pytest.mark.parametrize("q", QUERIES, ids=range(len(QUERIES)))
def test_es_search_matches_the_python_filter(es_store, q):
    store, every = es_store
    want = sorted((a for a in every if q.matches(a)), key=lambda a: (-a.last_seen, a.id))
    page = store.search_alerts(q)
    assert page.total == len(want)
    assert [a.id for a in page.alerts] == [a.id for a in want[q.offset:q.offset + q.limit]]
