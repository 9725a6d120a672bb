"""warden's own HTTP surface: bearer token, mTLS, rate limit, body cap, secrets never logged,
/metrics and /healthz; and YAML that tries to execute code is rejected everywhere warden reads YAML."""
from __future__ import annotations

import datetime as dt
import logging
import ssl
import threading

import pytest
import requests

from agent.config import parse
from core.counters import Counters
from core.errors import ConfigError
from agent.http.server import HttpServer, RateLimiter
from core.http import Request, Response

TOKEN = "s3cr3t-t0ken-value-1234567890"


def echo(req: Request) -> Response:
    return Response.json({"n": len(req.body)})


def boom(req: Request) -> Response:
    raise RuntimeError(f"kaboom with {req.headers.get('authorization')}")


@pytest.fixture
def server(serve):
    return lambda **kw: serve({("POST", "/v1/echo"): echo, ("POST", "/v1/boom"): boom}, **kw)


def url(s, path, scheme="http"):
    host, port = s.address
    return f"{scheme}://{host}:{port}{path}"


def test_bearer_token_required_and_compared(server):
    s = server(token=TOKEN)
    assert requests.post(url(s, "/v1/echo"), data=b"x").status_code == 401
    assert requests.post(url(s, "/v1/echo"), data=b"x", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert requests.post(url(s, "/v1/echo"), data=b"x", headers={"Authorization": TOKEN}).status_code == 401
    r = requests.post(url(s, "/v1/echo"), data=b"xyz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and r.json() == {"n": 3}
    # non-ASCII garbage in the header never crashes the comparison
    r = requests.post(url(s, "/v1/echo"), data=b"x", headers={"Authorization": "Bearer \xe9\xff".encode("latin-1")})
    assert r.status_code == 401
    assert requests.get(url(s, "/healthz")).status_code == 200          # liveness stays open
    assert requests.get(url(s, "/metrics")).status_code == 401          # metrics do not


def test_token_compare_is_constant_time(monkeypatch):
    import agent.http.auth as srv
    calls = []
    real = srv.hmac.compare_digest
    monkeypatch.setattr(srv.hmac, "compare_digest", lambda a, b: calls.append(1) or real(a, b))
    s = HttpServer("127.0.0.1", 0, token=TOKEN, counters=Counters())
    s.add_routes({("POST", "/v1/echo"): echo})
    s.start()
    try:
        requests.post(url(s, "/v1/echo"), data=b"x", headers={"Authorization": "Bearer a"})
    finally:
        s.close()
    assert calls


def test_unauthenticated_body_is_not_read_and_oversized_rejected(server):
    s = server(token=TOKEN, max_body_bytes=1000)
    r = requests.post(url(s, "/v1/echo"), data=b"x" * 5000, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 413
    r = requests.post(url(s, "/v1/echo"), data=b"x" * 500, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200


def test_rate_limit_429_per_client(server):
    c = Counters()
    # refusals at once and errors at one token (test_tarpit.py tests the hold and the cost of errors)
    s = server(token=TOKEN, rate_limit_rps=1.0, rate_limit_burst=5, counters=c, tarpit_s=0, rate_limit_error_cost=1)
    h = {"Authorization": f"Bearer {TOKEN}"}
    codes = [requests.post(url(s, "/v1/echo"), data=b"x", headers=h).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and codes[5:] == [429] * 3
    r = requests.post(url(s, "/v1/echo"), data=b"x", headers=h)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert c.get("http.status_429") >= 4
    # guessing tokens is limited too (per IP, whatever token is tried)
    bad = [requests.post(url(s, "/v1/echo"), data=b"x", headers={"Authorization": f"Bearer guess{i}"}).status_code
           for i in range(8)]
    assert bad[:5] == [401] * 5 and 429 in bad[5:]
    assert requests.get(url(s, "/healthz")).status_code == 200
    # open paths (probes, the web page's routes) take a bucket of their own per address
    probes = [requests.get(url(s, "/healthz")).status_code for _ in range(8)]
    assert probes[:4] == [200] * 4 and 429 in probes[5:]


@pytest.mark.parametrize("trusted, forwarded_clients_apart", [(None, False), (["127.0.0.1"], True)])
def test_x_forwarded_for_names_the_client_only_from_a_trusted_proxy(server, trusted, forwarded_clients_apart):
    """By default a client cannot claim another address (and a fresh rate-limit bucket) with
    X-Forwarded-For; behind a proxy named in trusted_proxies the header names the client."""
    s = server(token=TOKEN, rate_limit_rps=0.01, rate_limit_burst=1, tarpit_s=0, trusted_proxies=trusted)
    codes = [requests.post(url(s, "/v1/echo"), data=b"x", timeout=5, headers={
        "Authorization": f"Bearer {TOKEN}", "X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(1, 4)]
    assert codes == ([200, 200, 200] if forwarded_clients_apart else [200, 429, 429])


def test_rate_limiter_refills_and_bounds_memory():
    t = [0.0]
    rl = RateLimiter(2.0, 2, clock=lambda: t[0])
    assert rl.allow("a")[0] and rl.allow("a")[0] and not rl.allow("a")[0]
    t[0] += 0.5
    assert rl.allow("a")[0] and not rl.allow("a")[0]
    for i in range(RateLimiter.MAX_CLIENTS + 10):
        rl.allow(f"k{i}")
    assert len(rl._b) <= RateLimiter.MAX_CLIENTS
    assert RateLimiter(0, 0).allow("x") == (True, 0.0)


def test_secrets_never_logged(server, caplog):
    s = server(token=TOKEN)
    with caplog.at_level(logging.DEBUG):
        r = requests.post(url(s, "/v1/boom"), data=b'{"password": "hunter2"}',
                          headers={"Authorization": f"Bearer {TOKEN}", "X-Api-Key": "k3y"})
        assert r.status_code == 500 and r.json() == {"error": "internal error"}
        requests.post(url(s, "/v1/echo"), data=b"x", headers={"Authorization": f"Bearer {TOKEN}wrong"})
        requests.post(url(s, "/v1/echo?token=" + TOKEN), data=b"x", headers={"Authorization": f"Bearer {TOKEN}"})
    text = "\n".join(f"{rec.getMessage()} {rec.exc_text or ''}" for rec in caplog.records
                     if rec.name.startswith("warden"))
    assert "handler failed" in text
    assert TOKEN not in text and "hunter2" not in text and "k3y" not in text


def test_no_log_line_per_request(server, caplog):
    """No access log (uvicorn's is off, also with a handler on the root logger): a flood costs no
    log line per request, and no request line (path, query) is written anywhere."""
    s = server(token=TOKEN)
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            assert requests.post(url(s, "/v1/echo"), data=b"x", headers={"Authorization": f"Bearer {TOKEN}"}).ok
        assert requests.get(url(s, "/nope"), headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    assert [rec.name for rec in caplog.records if rec.name.startswith("uvicorn")] == []


def test_log_redaction_filter_and_json_logs():
    import io

    from core.observability import logs
    buf = io.StringIO()
    h = logs.setup("json", stream=buf)
    try:
        logging.getLogger("warden.test").warning("connecting with Authorization: Bearer %s password=%s", TOKEN, "pw1")
        line = buf.getvalue().strip().splitlines()[-1]
    finally:
        logging.getLogger().removeHandler(h)
    import json
    d = json.loads(line)
    assert d["level"] == "warning" and d["logger"] == "warden.test"
    assert TOKEN not in line and "pw1" not in line and "***" in d["message"]


# ---------------------------------------------------------------------------------- mTLS
def _certs(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write(key, cert, stem):
        (tmp_path / f"{stem}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (tmp_path / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return str(tmp_path / f"{stem}.pem"), str(tmp_path / f"{stem}.key")

    def ca(cn):
        k = ec.generate_private_key(ec.SECP256R1())
        c = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn)).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
             .not_valid_after(now + dt.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(k, hashes.SHA256()))
        return k, c

    def leaf(cn, ca_key, ca_cert, server=False):
        k = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca_cert.subject).public_key(k.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
             .not_valid_after(now + dt.timedelta(days=1)))
        if server:
            import ipaddress
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        return k, b.sign(ca_key, hashes.SHA256())

    ca_k, ca_c = ca("warden-test-ca")
    rogue_k, rogue_c = ca("rogue-ca")
    out = {"ca": write(ca_k, ca_c, "ca")[0]}
    out["server"] = write(*leaf("warden", ca_k, ca_c, server=True), "server")
    out["client"] = write(*leaf("prometheus", ca_k, ca_c), "client")
    out["rogue"] = write(*leaf("mallory", rogue_k, rogue_c), "rogue")
    return out


def test_mtls_requires_a_client_certificate_from_the_ca(server, tmp_path):
    certs = _certs(tmp_path)
    c = Counters()
    s = server(tls_cert=certs["server"][0], tls_key=certs["server"][1], client_ca=certs["ca"], counters=c)
    ok = requests.post(url(s, "/v1/echo", "https"), data=b"abcd", verify=certs["ca"], cert=certs["client"])
    assert ok.status_code == 200 and ok.json() == {"n": 4}
    with pytest.raises(requests.exceptions.RequestException):       # no client certificate
        requests.post(url(s, "/v1/echo", "https"), data=b"x", verify=certs["ca"], timeout=5)
    with pytest.raises(requests.exceptions.RequestException):       # certificate from another CA
        requests.post(url(s, "/v1/echo", "https"), data=b"x", verify=certs["ca"], cert=certs["rogue"], timeout=5)
    with pytest.raises(requests.exceptions.RequestException):       # plain HTTP on the TLS port
        requests.post(url(s, "/v1/echo"), data=b"x", timeout=5)
    # the server is still serving after all that
    assert requests.get(url(s, "/healthz", "https"), verify=certs["ca"], cert=certs["client"]).status_code == 200
    assert c.get("http.tls_rejected") >= 2


def test_tls_context_is_cert_required(tmp_path):
    certs = _certs(tmp_path)
    s = HttpServer("127.0.0.1", 0, tls_cert=certs["server"][0], tls_key=certs["server"][1], client_ca=certs["ca"])
    ctx = s.ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_config_validates_tls_fields():
    from agent.config import parse
    from core.errors import ConfigError
    with pytest.raises(ConfigError):
        parse({"http": {"tls_cert": "a.pem"}})
    with pytest.raises(ConfigError):
        parse({"http": {"client_ca": "ca.pem"}})
    cfg = parse({"http": {"tls_cert": "a.pem", "tls_key": "a.key", "client_ca": "ca.pem", "rate_limit_rps": 5}})
    assert cfg.http.client_ca == "ca.pem" and cfg.http.rate_limit_rps == 5


@pytest.mark.parametrize("proxies", [["*"], "10.0.0.1", [""], [5]])
def test_trusted_proxies_must_name_proxies(proxies):
    from agent.config import parse
    from core.errors import ConfigError
    with pytest.raises(ConfigError, match="trusted_proxies"):
        parse({"http": {"trusted_proxies": proxies}})
    assert parse({"http": {"trusted_proxies": ["10.0.0.0/8"]}}).http.trusted_proxies == ["10.0.0.0/8"]


def test_metrics_exposition(server):
    c = Counters()
    c.inc("detect.events", 7)
    c.inc("detect.findings.baseline/default", 2)
    s = server(counters=c)
    r = requests.get(url(s, "/metrics"))
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'warden_events_total{detail="",stage="detect"} 7.0' in r.text
    assert 'warden_findings_total{detail="baseline/default",stage="detect"} 2.0' in r.text


def test_server_survives_concurrent_garbage(server):
    import socket
    s = server(token=TOKEN)
    host, port = s.address

    def junk(payload):
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.sendall(payload)
            try:
                sock.recv(100)
            except OSError:
                pass
    payloads = [b"\x00\xff" * 100, b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"\r\n",
                b"POST /v1/echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                b"POST /v1/echo HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", b"\r\n\r\n"]
    ts = [threading.Thread(target=junk, args=(p,)) for p in payloads * 3]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    r = requests.post(url(s, "/v1/echo"), data=b"ok", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200


# ---------------------------------------------------------------------------------- YAML
EVIL = "!!python/object/apply:os.system ['touch {marker}']"


def test_config_yaml_with_python_tags_is_rejected(tmp_path):
    from agent.config import load
    from core.errors import ConfigError
    marker = tmp_path / "pwned"
    p = tmp_path / "warden.yaml"
    p.write_text(f"data_dir: {EVIL.format(marker=marker)}\n")
    with pytest.raises(ConfigError):
        load(p)
    p.write_text(f"bus: !!python/object:agent.config.BusConfig {{type: kafka}}\n")
    with pytest.raises(ConfigError):
        load(p)
    assert not marker.exists()


def test_policy_yaml_with_python_tags_is_rejected(tmp_path):
    from core.errors import ConfigError
    from policy.policies import PolicySet
    marker = tmp_path / "pwned"
    p = tmp_path / "policies.yaml"
    p.write_text(f"policies:\n  - id: x\n    match: {EVIL.format(marker=marker)}\n")
    with pytest.raises((ConfigError, ValueError)):
        PolicySet.load([str(p)])
    assert not marker.exists()


def test_sigma_rule_with_python_tags_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    text = (f"title: evil\nid: 11111111-1111-1111-1111-111111111111\nlogsource: {{product: aws}}\n"
            f"detection:\n  sel: {EVIL.format(marker=marker)}\n  condition: sel\n")
    try:
        from detectors.sigma.loader import Parsed, parse_text
    except ImportError:
        pytest.skip("sigma loader not available")
    try:
        out = Parsed()
        parse_text(text, str(tmp_path / "evil.yml"), out)
    except Exception:  # noqa: BLE001 - rejected is fine
        pass
    assert not marker.exists()


@pytest.mark.parametrize("build", [
    lambda t: HttpServer("127.0.0.1", 0, token=t),                  # constructed directly (was accepted)
    lambda t: parse({"http": {"token": t}}),                        # the config
    lambda t: HttpServer("127.0.0.1", 0, tokens={"x": {"token": t, "scopes": ["read"]}}),
])
def test_a_token_shorter_than_16_characters_is_refused_however_the_server_is_made(build):
    from agent.http.auth import MIN_TOKEN_CHARS
    with pytest.raises((ValueError, ConfigError), match=f"at least {MIN_TOKEN_CHARS} characters"):
        build("x" * (MIN_TOKEN_CHARS - 1))
    build("x" * MIN_TOKEN_CHARS)
