"""The web page in headless Chromium, on the demo's alerts, over SQLite and the real Elasticsearch:
the list and its filters and paging, a metric alert's chart (the drawn data against the store),
and the buttons that change the store (ack, assign, resolve, silence, approve)."""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
import uuid

import pytest

from core.event import Action
from tests.browser.conftest import ARTIFACTS, PAGE_SIZE, ROOT, click_and_wait, sign_in, text_of

pytestmark = pytest.mark.integration


def _by():
    from selenium.webdriver.common.by import By
    return By


def _rows(browser):
    """(id, status) of the rows shown, read in one step (live updates replace them every second)."""
    return [tuple(r) for r in browser.execute_script(
        "return Array.from(document.querySelectorAll('tr.alert')).map(r => [r.dataset.id, r.dataset.status])")]


def _text(browser, element_id: str) -> str:
    return browser.execute_script("return document.getElementById(arguments[0]).textContent", element_id)


def _all_alerts(site):
    from core.stores.search import AlertSearch
    return site.store.search_alerts(AlertSearch(limit=500)).alerts


def test_alert_list_shows_the_demo_incidents_filters_pages_and_updates_live(site, browser):
    from selenium.webdriver.support.ui import Select, WebDriverWait
    By = _by()
    alerts = _all_alerts(site)
    sign_in(browser, site)
    assert int(_text(browser, "total")) == len(alerts)
    ids = [i for i, _ in _rows(browser)]
    assert set(ids) == {a.id for a in alerts[:PAGE_SIZE]} and len(ids) == PAGE_SIZE   # newest first, one page
    heads = browser.execute_script(
        "return Array.from(document.querySelectorAll('tbody.incident')).map(b => b.dataset.group)")
    assert set(heads) == {(a.group_key or a.id) for a in alerts[:PAGE_SIZE]}
    # every demo incident is there (over all pages)
    entities = {a.entity for a in alerts} | {st["entity"] for a in alerts for st in a.steps}   # folded steps too
    for want in ("gpu-node-3", "gpu-node-2", "fraud-scorer", "llm-chat", "arn:aws:iam::123456789012:user/alice",
                 "arn:aws:iam::123456789012:user/backup-svc"):
        assert want in entities
    # paging: page 2 continues where page 1 stopped
    browser.get(browser.execute_script("return document.getElementById('next').href"))
    assert {i for i, _ in _rows(browser)} == {a.id for a in alerts[PAGE_SIZE:2 * PAGE_SIZE]}
    assert _text(browser, "page-no") == "2"
    # filter by status with the form
    browser.get(site.base + "/ui/alerts")
    Select(browser.find_element(By.NAME, "status")).select_by_value("firing")
    click_and_wait(browser, browser.find_element(By.ID, "apply"))      # the filtered page replaced this one
    firing = [a for a in alerts if a.status == "firing"]
    assert firing and int(_text(browser, "total")) == len(firing)
    assert {s for _, s in _rows(browser)} == {"firing"}
    # free text and detector and entity
    browser.get(site.base + "/ui/alerts?q=memory+leak")
    assert {i for i, _ in _rows(browser)} == {a.id for a in alerts if "memory leak" in a.title.lower()}
    browser.get(site.base + "/ui/alerts?detector=gpu_memory_leak&entity=gpu-node-3")
    want = {a.id for a in alerts if a.detector.startswith("gpu_memory_leak/") and a.entity == "gpu-node-3"}
    assert want and {i for i, _ in _rows(browser)} == want
    # live updates: an alert stored after the page loaded shows up without a reload
    browser.get(site.base + "/ui/alerts?entity=gpu-node-3")
    before = {i for i, _ in _rows(browser)}
    new = dataclasses.replace(alerts[0], id=uuid.uuid4().hex, entity="gpu-node-3", title="fresh alert",
                              last_seen=max(a.last_seen for a in alerts) + 60)
    site.store.upsert_alerts([new])
    site.store.flush()
    WebDriverWait(browser, 10).until(lambda b: new.id in {i for i, _ in _rows(b)})
    assert {i for i, _ in _rows(browser)} == before | {new.id}


def _path_vertices(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]


def _chart(a) -> dict | None:
    from agent.ui.chart import chart_evidence      # the stored chart the page draws
    return chart_evidence(a)


def test_metric_alert_page_draws_series_band_threshold_and_crossings(site, browser):
    By = _by()
    a = max((x for x in _all_alerts(site) if _chart(x) is not None), key=lambda x: _chart(x)["crossings"])
    chart = _chart(a)
    pts = [p for p in chart["points"] if p[1] is not None]
    crossing = [p for p in pts if p[4]]
    assert len(crossing) >= 5                                     # the GPU memory leak crosses many times
    sign_in(browser, site)
    browser.get(f"{site.base}/ui/alerts/{a.id}")
    svg = browser.find_element(By.ID, "chart")
    assert int(svg.get_attribute("data-points")) == len(pts)
    series = _path_vertices(browser.find_element(By.ID, "series").get_attribute("d"))
    assert len(series) == len(pts)
    # the drawn series follows the stored values: the highest value is drawn highest (smallest y)
    assert min(range(len(pts)), key=lambda i: series[i][1]) == max(range(len(pts)), key=lambda i: pts[i][1])
    band = browser.find_element(By.ID, "band")
    assert band.size["height"] > 0 and band.size["width"] > 0      # rendered, not only present
    high = _path_vertices(browser.find_element(By.ID, "threshold-high").get_attribute("d"))
    circles = browser.find_elements(By.CSS_SELECTOR, "circle.crossing")
    assert len(circles) == len(crossing) == chart["crossings"]
    high_at = dict(high)
    for c, p in zip(circles, crossing):
        assert float(c.get_attribute("data-v")) == pytest.approx(p[1])
        k, base, scale = chart["threshold_k"], p[2], p[3]
        assert abs(p[1] - base) >= k * scale * 0.999                 # the stored point crossed the threshold
        x, y = float(c.get_attribute("cx")), float(c.get_attribute("cy"))
        if p[1] > base:
            assert y <= high_at[x]                                 # drawn above the threshold line
        assert c.is_displayed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"ui-alert-{site.store.__class__.__name__}.png"
    assert browser.get_screenshot_as_file(str(shot))
    docs = ROOT / "docs" / "ui-alert-page.png"          # the README's picture: refreshed on request only
    if site.store.__class__.__name__ == "SqliteStore" and (os.environ.get("WARDEN_UPDATE_SCREENSHOT") == "1"
                                                           or not docs.exists()):
        shutil.copy(shot, docs)


def _submit(browser, form_id: str, **fields) -> None:
    By = _by()
    form = browser.find_element(By.ID, form_id)
    for name, value in fields.items():
        el = form.find_element(By.NAME, name)
        el.clear()
        el.send_keys(value)
    click_and_wait(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def test_ack_assign_resolve_silence_and_approve_from_the_page_change_the_store(site, browser):
    from policy.silences import open_silences
    By = _by()
    firing = [a for a in _all_alerts(site) if a.status == "firing"]
    assert len(firing) >= 2
    acked, resolved = firing[0], firing[1]
    note = f"on it {uuid.uuid4().hex[:6]}"
    sign_in(browser, site)
    browser.get(f"{site.base}/ui/alerts/{acked.id}")
    _submit(browser, "ack-form", note=note)
    assert site.store.get_alert(acked.id).status == "acknowledged"
    assert text_of(browser, "alert-status") == "acknowledged"
    _submit(browser, "assign-form", assignee="dana")
    assert site.store.get_alert(acked.id).assignee == "dana"
    browser.get(f"{site.base}/ui/alerts/{resolved.id}")
    _submit(browser, "resolve-form", note="fixed by rollback")
    assert site.store.get_alert(resolved.id).status == "resolved"
    # silence alerts like this: the matchers come prefilled
    prefilled = browser.find_element(By.ID, "silence-matchers").get_attribute("value").splitlines()
    assert prefilled == [f"alertname={resolved.labels['alertname']}", f"entity={resolved.entity}"]
    _submit(browser, "silence-form", comment="known rollout")
    st = open_silences(site.cfg)
    try:
        mine = [s for s in st.list() if s.comment == "known rollout"]
    finally:
        st.close()
    assert mine and sorted((m.name, m.op, m.value) for m in mine[0].matchers) == sorted(
        [("alertname", "=", resolved.labels["alertname"]), ("entity", "=", resolved.entity)])
    # approve an action waiting for approval (planned now: an action's time is wall-clock time, and
    # an approval lapses 24 h after it)
    pending = Action(id=uuid.uuid4().hex, alert_id=acked.id, responder="log/default", action="notify",
                     target=acked.entity, dry_run=True, status="pending_approval", time=time.time(),
                     result={"route": {"responder": "log/default", "dry_run": True, "params": {}}})
    site.store.put_actions([pending])
    site.store.flush()
    browser.get(f"{site.base}/ui/alerts/{acked.id}")
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-id='{pending.id}']")
    click_and_wait(browser, row.find_element(By.CSS_SELECTOR, "button.approve"))
    assert "done=" + pending.id[:12] in browser.current_url
    after = [x for x in site.store.list_actions(acked.id) if x.id == pending.id]
    assert after and after[0].status != "pending_approval"
    from policy.action_log import ActionLog
    assert any(e.get("phase") == "approve" and (e.get("action") or {}).get("id") == pending.id
               for e in ActionLog.for_data_dir(site.cfg.data_dir).entries())


def test_actions_silences_and_status_pages(site, browser):
    from selenium.webdriver.support.ui import WebDriverWait
    from policy.silences import open_silences
    from tests.browser.conftest import click_and_wait
    By = _by()
    sign_in(browser, site)
    browser.get(site.base + "/ui/actions")
    assert "hash chain intact" in _text(browser, "chain")
    shown = {r[0] for r in browser.execute_script(
        "return Array.from(document.querySelectorAll('#actions tbody tr')).map(r => [r.dataset.id])")}
    assert shown and shown <= {x.id for x in site.store.list_actions(limit=1000)}
    # a silence made on the page can be expired on the page
    a = _all_alerts(site)[-1]
    browser.get(f"{site.base}/ui/alerts/{a.id}")
    _submit(browser, "silence-form", comment="expire me")
    st = open_silences(site.cfg)
    try:
        mine = next(s for s in st.list() if s.comment == "expire me")
    finally:
        st.close()
    row = browser.find_element(By.CSS_SELECTOR, f"#silences tr[data-id='{mine.id}']")
    assert row.get_attribute("data-state") == "active"
    click_and_wait(browser, row.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    st = open_silences(site.cfg)
    try:
        assert next(s for s in st.list(include_expired=True) if s.id == mine.id).state() == "expired"
    finally:
        st.close()
    # status: stages, counters, and trend charts that grow as the page refreshes itself
    browser.get(site.base + "/ui/status")
    stages = browser.execute_script(
        "return Array.from(document.querySelectorAll('#stages tbody tr')).map(r => r.cells[0].textContent)")
    assert stages[:4] == ["collect", "detect", "decide", "act"]
    firing = sum(1 for a in _all_alerts(site) if a.status == "firing")
    assert f"firing={firing} " in _text(browser, "alert-counts")
    WebDriverWait(browser, 15).until(lambda b: b.execute_script(
        "const s = document.querySelector('#trends svg'); return s && Number(s.dataset.samples) >= 3"))
