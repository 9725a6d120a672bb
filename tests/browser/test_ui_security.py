"""Hostile content stays inert, and nothing works without a session and the CSRF token.

The hostile records went through the real pipeline (conftest): a CloudTrail ConsoleLogin whose
userName is an `<img onerror>` and a prompt with a `<script>`; both scripts would call the test
server's /xss-hit listener if they ever ran."""
from __future__ import annotations

import time

import pytest
import requests

from core.stores.search import AlertSearch
from tests.browser.conftest import HOSTILE_PROMPT, HOSTILE_USER, TOKEN, sign_in, text_of

pytestmark = pytest.mark.integration


def _hostile_alerts(site):
    alerts = site.store.search_alerts(AlertSearch(limit=500)).alerts
    user = next(a for a in alerts if HOSTILE_USER in a.entity)
    prompt = next(a for a in alerts if a.entity == "llm-hostile")
    return user, prompt


def test_hostile_user_name_and_prompt_render_as_text_and_no_script_runs(sqlite_site, browser):
    from selenium.webdriver.common.by import By
    site = sqlite_site
    user, prompt = _hostile_alerts(site)
    assert "<script>" in prompt.evidence["prompt.excerpt"]
    browser.get_log("browser")                       # start listening from here
    sign_in(browser, site)
    browser.get(site.base + "/ui/alerts?q=hostile")
    browser.get(site.base + "/ui/alerts?entity=" + requests.utils.quote(user.entity))
    assert HOSTILE_USER in text_of(browser, "alerts")
    browser.get(f"{site.base}/ui/alerts/{user.id}")
    assert HOSTILE_USER in text_of(browser, "alert-entity")
    assert HOSTILE_USER in text_of(browser, "audit-fields")
    browser.get(f"{site.base}/ui/alerts/{prompt.id}")
    shown = text_of(browser, "prompt")
    assert "<script>fetch('/xss-hit?script')</script>" in shown and shown.startswith(HOSTILE_PROMPT[:20])
    for page in (f"/ui/alerts/{user.id}", f"/ui/alerts/{prompt.id}", "/ui/alerts", "/ui/actions"):
        browser.get(site.base + page)
        # no element the attacker wrote exists: the only script is the page's own file
        assert browser.execute_script("return document.querySelectorAll('img, [onerror]').length") == 0
        assert [s.get_attribute("src") for s in browser.find_elements(By.TAG_NAME, "script")] == \
            [site.base + "/ui/static/ui.js"]
    time.sleep(1.5)                                   # let anything scheduled fire
    assert site.xss_hits == []
    logs = browser.get_log("browser")
    assert not [m for m in logs if "Content Security Policy" in m["message"] or "xss-hit" in m["message"]], logs


def _ui_routes(site):
    from agent.ui.app import UiContext, UiOptions
    from agent.ui.site import routes
    ctx = UiContext(cfg=site.cfg, store=site.store, auth=None, options=UiOptions())
    return [k for k in routes(ctx) if k[1] not in ("/ui/login",) and not k[1].startswith("/ui/static")]


def test_every_page_and_action_is_refused_without_a_session(sqlite_site, browser):
    from selenium.webdriver.common.by import By
    site = sqlite_site
    alert_id = site.store.search_alerts(AlertSearch(limit=1)).alerts[0].id
    routes = _ui_routes(site)
    assert len(routes) >= 12
    for method, path in routes:
        url = site.base + path.replace("{id}", alert_id)
        r = requests.request(method, url, data={"note": "x"}, allow_redirects=False, timeout=10,
                             headers={"Authorization": f"Bearer {TOKEN}"})   # the API token is not a session
        assert r.status_code == 401, (method, path, r.status_code)
        r = requests.request(method, url, cookies={"warden_ui": "forged-session-id"}, allow_redirects=False,
                             timeout=10)
        assert r.status_code == 401, (method, path, r.status_code)
    browser.delete_all_cookies()
    browser.get(site.base + "/ui/alerts")
    assert text_of(browser, "refused") == "sign in first"
    assert not browser.find_elements(By.ID, "alerts")


def test_forged_forms_without_the_csrf_token_are_refused_and_change_nothing(sqlite_site, browser):
    site = sqlite_site
    s = requests.Session()
    r = s.post(site.base + "/ui/login", data={"token": "wrong"}, allow_redirects=False, timeout=10)
    assert r.status_code == 401 and "warden_ui" not in s.cookies
    r = s.post(site.base + "/ui/login", data={"token": TOKEN}, allow_redirects=False, timeout=10)
    assert r.status_code == 303
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie                       # plain HTTP here; Secure is set with TLS (unit test)
    target = site.store.search_alerts(AlertSearch(status="firing", limit=5)).alerts[-1]
    page = s.get(f"{site.base}/ui/alerts/{target.id}", timeout=10)
    assert page.status_code == 200 and 'name="csrf"' in page.text
    for data in ({"note": "forged"}, {"note": "forged", "csrf": "not-the-token"}):
        r = s.post(f"{site.base}/ui/alerts/{target.id}/resolve", data=data, allow_redirects=False, timeout=10)
        assert r.status_code == 403
    r = s.post(f"{site.base}/ui/alerts/{target.id}/resolve", allow_redirects=False, timeout=10,
               data={"note": "forged", "csrf": _csrf(page.text)}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    assert site.store.get_alert(target.id).status == "firing"
    # a cross-site form in the browser: the SameSite=Strict cookie is not sent, the post is refused
    sign_in(browser, site)
    evil = site.base.replace("127.0.0.1", "localhost")
    browser.get(f"{evil}/xss-hit?forge=1")
    browser.execute_script("""
        const f = document.createElement('form'); f.method = 'post';
        f.action = arguments[0]; const n = document.createElement('input');
        n.name = 'note'; n.value = 'cross-site'; f.appendChild(n); document.body.appendChild(f); f.submit();""",
                           f"{site.base}/ui/alerts/{target.id}/resolve")
    time.sleep(1.0)
    assert "401" in browser.title or "403" in browser.title
    assert site.store.get_alert(target.id).status == "firing"


def _csrf(html: str) -> str:
    import re
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_prompt_alert_shows_score_and_the_blocked_key(sqlite_site, browser):
    from selenium.webdriver.common.by import By
    site = sqlite_site
    _, prompt = _hostile_alerts(site)
    blocks = [x.target for x in site.store.list_actions(prompt.id) if x.responder.startswith("blocklist/")]
    sign_in(browser, site)
    browser.get(f"{site.base}/ui/alerts/{prompt.id}")
    assert float(text_of(browser, "prompt-score")) == pytest.approx(prompt.evidence["score"], abs=1e-3)
    assert text_of(browser, "blocked-key") == (blocks[0] if blocks else "key-hostile-01")
