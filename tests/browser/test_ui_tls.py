"""The page over TLS: the session cookie is Secure (read back from Chromium's cookie jar with its
HttpOnly and SameSite flags), and with client certificates (mTLS) sign-in is by the certificate
the handshake verified, no token."""
from __future__ import annotations

import pytest
import requests

from tests.browser.conftest import TOKEN, _serve_with, sign_in
from tests.unit.agent.http.test_server_security import _certs

pytestmark = pytest.mark.integration


def test_session_cookie_is_secure_httponly_strict_over_tls(sqlite_site, tls_browser, tmp_path):
    certs = _certs(tmp_path)
    srv, site = _serve_with(sqlite_site.cfg, sqlite_site.store, tls_cert=certs["server"][0],
                            tls_key=certs["server"][1])
    try:
        assert site.base.startswith("https://")
        sign_in(tls_browser, site)
        [c] = [c for c in tls_browser.get_cookies() if c["name"] == "warden_ui"]
        assert c["secure"] is True and c["httpOnly"] is True and c["sameSite"] == "Strict" and c["path"] == "/ui"
        assert tls_browser.execute_script("return document.cookie").find("warden_ui") < 0   # not readable by script
    finally:
        srv.close()


def test_mtls_signs_in_with_the_client_certificate(sqlite_site, tmp_path):
    certs = _certs(tmp_path)
    srv, site = _serve_with(sqlite_site.cfg, sqlite_site.store, tls_cert=certs["server"][0],
                            tls_key=certs["server"][1], client_ca=certs["ca"])
    try:
        s = requests.Session()
        tls = {"verify": certs["ca"], "cert": certs["client"], "timeout": 10}   # per request: REQUESTS_CA_BUNDLE
        assert "Sign in with my certificate" in s.get(site.base + "/ui/login", **tls).text
        assert s.get(site.base + "/ui/alerts", allow_redirects=False, **tls).status_code == 401
        r = s.post(site.base + "/ui/login", data={}, allow_redirects=False, **tls)
        assert r.status_code == 303 and "Secure" in r.headers["Set-Cookie"]
        assert s.get(site.base + "/ui/alerts", **tls).status_code == 200
        with pytest.raises(requests.exceptions.RequestException):        # no certificate: no connection at all
            requests.post(site.base + "/ui/login", data={"token": TOKEN}, verify=certs["ca"], timeout=5)
    finally:
        srv.close()
