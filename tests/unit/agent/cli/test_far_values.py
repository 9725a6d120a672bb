"""Numbers too large for a datetime or for SQLite are refused with the reason or shown, never a
traceback: `silences add --for 99999999999d` stored a silence ending in year 273,792,727, then
crashed printing it, and every later `silences list` crashed on it; `actions list --limit 2**67`
and the web page's `?page=99999999999999999999` ended in SQLite's OverflowError (a traceback; a
500), and a page beyond Elasticsearch's 10,000-result window would have been its BadRequest."""
from __future__ import annotations

import orjson
import pytest

from core.http import HttpError, Request
from tests.unit.agent.lifecycle.cli_fixture import invoke, populate


def test_a_silence_past_year_9999_is_refused_and_one_stored_before_still_lists(tmp_path):
    conf = populate(tmp_path)
    r = invoke(conf, "silences", "add", "alertname=gpu-leak", "--for", "99999999999d")
    assert r.exit_code == 2 and "a silence must end by 9999-12-31 23:59:59 UTC" in r.output, r.output
    assert orjson.loads(invoke(conf, "silences", "list", "--json").output) == []
    from agent.config import load
    from policy.matchers import parse_matchers
    from policy.silences import Silence, open_silences
    st = open_silences(load(conf))       # one written before the bound (or by another tool)
    st.add(Silence("far", parse_matchers(["alertname=gpu-leak"]), 0.0, 8.64e15))
    st.close()
    r = invoke(conf, "silences", "list")
    assert r.exit_code == 0 and "8640000000000000 (epoch seconds, beyond year 9999)" in r.output, r.output
    assert invoke(conf, "silences", "expire", "far").exit_code == 0


def test_actions_list_with_a_limit_beyond_sqlite_integers_lists_them_all(tmp_path):
    conf = populate(tmp_path)
    every = orjson.loads(invoke(conf, "actions", "list", "--json").output)
    r = invoke(conf, "actions", "list", "--limit", str(2 ** 67), "--json")
    assert r.exit_code == 0 and orjson.loads(r.output) == every and every


@pytest.mark.parametrize("store, page, ok", [
    ("sqlite", "99999999999999999999", False),
    ("sqlite", "1000000", True),
    ("elasticsearch", "200", True),          # 200 x 50 = the 10,000 alerts Elasticsearch pages through
    ("elasticsearch", "201", False),
])
def test_a_web_page_beyond_what_the_store_pages_through_is_a_400_naming_it(tmp_path, store, page, ok):
    from agent.ui.pages_alerts import search_from
    from core.stores.elasticsearch import ElasticsearchStore
    from core.stores.sqlite import SqliteStore
    window = {"sqlite": SqliteStore, "elasticsearch": ElasticsearchStore}[store].max_result_window
    req = Request("GET", "/ui/alerts", {"page": [page]}, {}, b"", {})
    if ok:
        q, _, page_no = search_from(req, 50, 0.0, window)
        assert page_no == int(page) and q.offset == (int(page) - 1) * 50
        if store == "sqlite":
            s = SqliteStore(tmp_path / "a.db")
            s.start()
            assert s.search_alerts(q).alerts == []
            s.close()
        return
    with pytest.raises(HttpError) as e:
        search_from(req, 50, 0.0, window)
    assert e.value.status == 400 and f"page {page} is beyond the first {window:,} alerts" in str(e.value)
