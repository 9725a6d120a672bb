"""The Elasticsearch silence store's calls (index, query for active silences), with a recording
fake client; the real server is exercised by the integration suite's store tests."""
from __future__ import annotations

import time
from types import SimpleNamespace

from policy.silences import ElasticsearchSilenceStore, Silence


class FakeIndices:
    def __init__(self, es):
        self.es = es

    def exists(self, index):
        return index in self.es.docs

    def create(self, index, settings, mappings):
        self.es.calls.append(("create", index, mappings["properties"]["ends_at"]))
        self.es.docs[index] = {}


class FakeEs:
    def __init__(self):
        self.docs: dict[str, dict] = {}
        self.calls: list = []
        self.indices = FakeIndices(self)

    def index(self, index, id, document, refresh):
        self.calls.append(("index", index, id, refresh))
        self.docs[index][id] = document

    def search(self, index, query, size, sort):
        self.calls.append(("search", index, query))
        docs = list(self.docs[index].values())
        if "range" in query:
            gt = query["range"]["ends_at"]["gt"]
            docs = [d for d in docs if d["ends_at"] > gt]
        return {"hits": {"hits": [{"_source": d} for d in sorted(docs, key=lambda d: d["starts_at"])]}}

    def close(self):
        pass


def test_es_silences_roundtrip_and_active_query():
    es = FakeEs()
    st = ElasticsearchSilenceStore(SimpleNamespace(index_prefix="warden-t"), es=es)
    s = Silence.new(["alertname=x"], duration=600, comment="c")
    st.add(s)
    assert es.calls[0] == ("create", "warden-t-silences", {"type": "double"})
    assert es.calls[1] == ("index", "warden-t-silences", s.id, "wait_for")
    [got] = st.list()
    assert got.id == s.id and got.silences({"alertname": "x"})
    assert es.calls[-1][2]["range"]["ends_at"]["gt"] <= time.time()
    st.expire(s.id)
    assert st.list() == [] and st.list(include_expired=True)[0].state() == "expired"
