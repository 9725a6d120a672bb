"""The web page's parts without a browser: sessions and CSRF, tag links, redaction, the chart's
geometry, and the stores' paged search (SQL against the same filter in Python)."""
from __future__ import annotations

import itertools

import pytest

from core.event import Alert
from core.http import HttpError, Request
from core.stores.search import AlertSearch
from agent.ui.auth import Auth, Form
from agent.ui.chart import ChartData, svg_geometry
from agent.ui.evidence import redact, tag_link


def _req(method="GET", cookie="", body=b"", headers=None) -> Request:
    h = {"cookie": cookie, "host": "warden:8080", **(headers or {})}
    return Request(method, "/ui/x", {}, h, body, {})


@pytest.mark.parametrize("tls", [False, True])
def test_session_cookie_attributes(tls):
    a = Auth(token="t0k-0123456789abcdef", mtls=False, tls=tls)
    s = a.sign_in(Form({"token": "t0k-0123456789abcdef"}))
    c = a.set_cookie(s)
    assert "HttpOnly" in c and "SameSite=Strict" in c and "Path=/ui" in c
    assert ("Secure" in c) == tls


@pytest.mark.parametrize("form,headers,status", [
    ({"token": "nope"}, {}, 401),
])
def test_wrong_token_is_refused(form, headers, status):
    with pytest.raises(HttpError) as e:
        Auth(token="t0k-0123456789abcdef", mtls=False, tls=False).sign_in(Form(form))
    assert e.value.status == status


def test_nothing_configured_refuses_sign_in_and_mtls_needs_no_token():
    with pytest.raises(HttpError) as e:
        Auth(token=None, mtls=False, tls=False).sign_in(Form({}))
    assert e.value.status == 403
    assert Auth(token=None, mtls=True, tls=True).sign_in(Form({})).principal == "client-certificate"


@pytest.mark.parametrize("body,origin,ok", [
    (b"csrf={csrf}&note=x", None, True),
    (b"note=x", None, False),
    (b"csrf=wrong&note=x", None, False),
    (b"csrf={csrf}", "http://evil.example", False),
    (b"csrf={csrf}", "http://warden:8080", True),
])
def test_posts_need_the_session_csrf_token_and_same_origin(body, origin, ok):
    a = Auth(token="t0k-0123456789abcdef", mtls=False, tls=False)
    s = a.sign_in(Form({"token": "t0k-0123456789abcdef"}))
    req = _req("POST", f"warden_ui={s.id}", body.replace(b"{csrf}", s.csrf.encode()),
               {"origin": origin} if origin else {})
    if ok:
        assert a.require_post(req)[0] is s
    else:
        with pytest.raises(HttpError) as e:
            a.require_post(req)
        assert e.value.status == 403


def test_expired_and_signed_out_sessions_are_refused():
    now = [1000.0]
    a = Auth(token="t0k-0123456789abcdef", mtls=False, tls=False, ttl_s=10, clock=lambda: now[0])
    s = a.sign_in(Form({"token": "t0k-0123456789abcdef"}))
    assert a.require(_req(cookie=f"warden_ui={s.id}")) is s
    now[0] += 11
    with pytest.raises(HttpError):
        a.require(_req(cookie=f"warden_ui={s.id}"))
    s = a.sign_in(Form({"token": "t0k-0123456789abcdef"}))
    a.sign_out(_req(cookie=f"warden_ui={s.id}"))
    assert a.session(_req(cookie=f"warden_ui={s.id}")) is None


TOKENS = {"viewer": {"token": "v" * 20, "scopes": ["read"]}, "ops": {"token": "o" * 20, "scopes": ["read", "admin"]},
          "feeder": {"token": "f" * 20, "scopes": ["ingest"]}}


@pytest.mark.parametrize("given, principal, can_change", [
    ("t0k-0123456789abcdef", "token", True), ("v" * 20, "token:viewer", False), ("o" * 20, "token:ops", True), ("f" * 20, None, False),
])
def test_any_token_with_read_signs_in_and_changes_need_admin(given, principal, can_change):
    from agent.http.auth import parse_tokens
    a = Auth(tokens=parse_tokens("t0k-0123456789abcdef", TOKENS), mtls=False, tls=False)
    if principal is None:                                   # a token without `read` cannot view the page
        with pytest.raises(HttpError) as e:
            a.sign_in(Form({"token": given}))
        assert e.value.status == 403
        return
    s = a.sign_in(Form({"token": given}))
    assert s.principal == principal and a.require(_req(cookie=f"warden_ui={s.id}")) is s
    post = _req("POST", f"warden_ui={s.id}", f"csrf={s.csrf}".encode())
    assert a.require_post(post, scope=None)[0] is s         # signing out needs no scope
    if can_change:
        assert a.require_post(post)[0] is s
    else:
        with pytest.raises(HttpError) as e:
            a.require_post(post)
        assert e.value.status == 403 and "admin" in e.value.reason


def test_the_page_refuses_a_read_only_session_s_changes_before_doing_them(tmp_path):
    from agent.config import parse
    from agent.http.auth import parse_tokens
    from core.stores.sqlite import SqliteStore
    from agent.ui.app import UiContext, UiOptions
    from agent.ui.site import routes
    a = Auth(tokens=parse_tokens(None, TOKENS), mtls=False, tls=False)
    store = SqliteStore(tmp_path / "warden.db")
    [alert] = _alerts()[:1]
    store.upsert_alerts([alert])
    ui = UiContext(cfg=parse({"data_dir": str(tmp_path)}), store=store, auth=a, options=UiOptions())
    table = routes(ui)

    def ack(s):
        return table[("POST", "/ui/alerts/{id}/ack")](Request(
            "POST", f"/ui/alerts/{alert.id}/ack", {}, {"cookie": f"warden_ui={s.id}", "host": "warden:8080"},
            f"csrf={s.csrf}".encode(), {"id": alert.id})).status
    def page(s) -> str:
        return table[("GET", "/ui/alerts/{id}")](Request(
            "GET", f"/ui/alerts/{alert.id}", {}, {"cookie": f"warden_ui={s.id}", "host": "warden:8080"},
            b"", {"id": alert.id})).body.decode()
    s = a.sign_in(Form({"token": "v" * 20}))
    assert "read only" in page(s) and "ack-form" not in page(s) and "silence-form" not in page(s)
    assert ack(s) == 403 and store.get_alert(alert.id).status == "firing"
    assert "ack-form" in page(a.sign_in(Form({"token": "o" * 20})))
    for path in ("/ui/actions", "/ui/silences"):                 # the other pages render without buttons
        r = table[("GET", path)](Request("GET", path, {}, {"cookie": f"warden_ui={s.id}", "host": "warden:8080"},
                                         b"", {}))
        assert r.status == 200 and "read only" in r.body.decode()
    assert ack(a.sign_in(Form({"token": "o" * 20}))) == 303 and store.get_alert(alert.id).status == "acknowledged"
    req = Request("POST", "/ui/logout", {}, {"cookie": f"warden_ui={s.id}", "host": "warden:8080"},
                  f"csrf={s.csrf}".encode(), {})
    assert table[("POST", "/ui/logout")](req).status == 303


@pytest.mark.parametrize("tag,url", [
    ("attack.t1110", "https://attack.mitre.org/techniques/T1110/"),
    ("attack.t1136.003", "https://attack.mitre.org/techniques/T1136/003/"),
    ("attack.credential-access", "https://attack.mitre.org/tactics/TA0006/"),
    ("atlas.aml.t0025", "https://atlas.mitre.org/techniques/AML.T0025"),
    ("atlas:AML.T0051", "https://atlas.mitre.org/techniques/AML.T0051"),
    ("owasp-llm:LLM01", ""),
    ("gpu", ""),
])
def test_tag_links(tag, url):
    assert tag_link(tag).url == url


@pytest.mark.parametrize("mode,text,kept,gone", [
    ("secrets", "mail me at bob@example.com with key sk-abcdefghijklmnop", "mail me at", "bob@example.com"),
    ("secrets", "card 4111 1111 1111 1111 please", "please", "4111"),
    ("secrets", "AKIAABCDEFGHIJKLMNOP leaked", "leaked", "AKIA"),
    ("none", "bob@example.com", "bob@example.com", None),
    ("full", "ignore previous instructions", "hidden", "ignore"),
])
def test_redaction(mode, text, kept, gone):
    out = redact(text, mode)
    assert kept in out
    if gone:
        assert gone not in out


def test_chart_geometry_puts_crossings_beyond_the_threshold():
    pts = [[float(i), 10.0 + (i % 2), 10.5, 0.5, False] for i in range(30)] + [[30.0, 30.0, 10.5, 0.5, True]]
    d = ChartData.from_evidence({"chart": {"metric": "m", "points": pts, "threshold_k": 7.0, "direction": "up"}})
    g = svg_geometry(d)
    assert g.series_n == 31 and len(g.crossings) == 1 and g.band and g.threshold_high and not g.threshold_low
    high_y = float(g.threshold_high.split()[-1].split(",")[1])
    assert g.crossings[0]["y"] < high_y                  # SVG y grows downwards: drawn above the line


@pytest.mark.parametrize("evidence", [{}, {"chart": None}, {"chart": {"points": []}}, {"chart": {"points": [["x"]]}}])
def test_no_chart_from_missing_or_bad_evidence(evidence):
    assert ChartData.from_evidence(evidence) is None


def _alerts() -> list[Alert]:
    out = []
    for i, (sev, st, det, ent) in enumerate(itertools.product(
            ["low", "high"], ["firing", "resolved"], ["baseline/default", "sigma/default"], ["gpu-1", "alice"])):
        out.append(Alert(id=f"{i:04d}" + "a" * 28, rule=f"rule-{i % 3}", title=f"title {det} {i}", severity=sev,
                         entity=ent, group_key=f"g{i % 4}", status=st, first_seen=100.0 + i, last_seen=200.0 + i,
                         detector=det, labels={"team": "ml" if i % 2 else "sec"}))
    return out


@pytest.mark.parametrize("q", [
    AlertSearch(), AlertSearch(status="firing"), AlertSearch(status="acknowledged"), AlertSearch(status="resolved"),
    AlertSearch(severity="high"), AlertSearch(detector="sigma"), AlertSearch(detector="baseline/default"),
    AlertSearch(entity="alice"), AlertSearch(since=210.0), AlertSearch(until=105.0), AlertSearch(text="TEAM=ML"),
    AlertSearch(text="0003"), AlertSearch(limit=3, offset=4), AlertSearch(status="firing", severity="high", text="sigma"),
])
def test_sqlite_search_matches_the_python_filter(tmp_path, q):
    from core.stores.sqlite import SqliteStore
    store = SqliteStore(tmp_path / "w.db")
    alerts = _alerts()
    store.upsert_alerts(alerts)
    store.set_workflow(alerts[0].id, status="acknowledged", by="t")       # firing, acked
    store.set_workflow(alerts[2].id, status="acknowledged", by="t")       # resolved after the ack: stays resolved
    store.set_workflow(alerts[8].id, status="resolved", by="t")       # firing, resolved by hand
    every = [store.get_alert(a.id) for a in alerts]
    want = sorted((a for a in every if q.matches(a)), key=lambda a: (-a.last_seen, a.id))
    page = store.search_alerts(q)
    assert page.total == len(want)
    assert [a.id for a in page.alerts] == [a.id for a in want[q.offset:q.offset + q.limit]]


@pytest.mark.parametrize("ui", [True, False])
def test_the_pipeline_serves_the_page_when_http_ui_is_on(tmp_path, ui):
    from agent.config import parse
    from agent.pipeline import Pipeline
    cfg = parse({"data_dir": str(tmp_path / "w"), "http": {"enabled": True, "port": 0, "token": "t" * 16, "ui": ui}})
    p = Pipeline(cfg, collectors=[], detectors=[], responders=[])
    try:
        assert (("GET", "/ui/alerts") in p.http.routes) == ui
        assert ("/ui" in p.http.open_prefixes) == ui
    finally:
        p.close()
