"""Unusable TLS files (`http.tls_cert`, `http.tls_key`, `http.client_ca`) stop `warden run` with one
`error:` line naming the setting and the path (exit 2), and `warden config check` finds the same
before a start: a missing file, a folder, garbage, a key of another certificate, a key with a
passphrase (OpenSSL would otherwise prompt on the terminal), a CA file without a certificate.
Before: a FileNotFoundError / ssl.SSLError traceback from `ssl_context`, and `config check` said ok
for a file that exists but is not a certificate."""
from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from agent.cli import _load_commands, cli

_load_commands()


def _pem_files(tmp_path):
    """A self-signed certificate with its key, another key, and the first key under a passphrase."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warden")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for name, k, enc in (("key.pem", key, serialization.NoEncryption()),
                         ("other.pem", other, serialization.NoEncryption()),
                         ("locked.pem", key, serialization.BestAvailableEncryption(b"secret"))):
        (tmp_path / name).write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.PKCS8, enc))
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    (tmp_path / "folder").mkdir()


@pytest.mark.parametrize("http, message", [
    ({"tls_cert": "missing.pem", "tls_key": "key.pem"}, "http.tls_cert: no such file {d}/missing.pem"),
    ({"tls_cert": "cert.pem", "tls_key": "missing.key"}, "http.tls_key: no such file {d}/missing.key"),
    ({"tls_cert": "folder", "tls_key": "key.pem"}, "http.tls_cert: {d}/folder is not a file"),
    ({"tls_cert": "junk.pem", "tls_key": "key.pem"}, "http.tls_cert / http.tls_key: {d}/junk.pem and {d}/key.pem are not a PEM certificate"),
    ({"tls_cert": "cert.pem", "tls_key": "other.pem"}, "http.tls_cert / http.tls_key: {d}/cert.pem and {d}/other.pem are not a PEM certificate"),
    ({"tls_cert": "cert.pem", "tls_key": "locked.pem"}, "http.tls_key: {d}/locked.pem is encrypted with a passphrase"),
    ({"tls_cert": "cert.pem", "tls_key": "key.pem", "client_ca": "junk.pem"},
     "http.client_ca: {d}/junk.pem holds no PEM CA certificate"),
])
def test_unusable_tls_files_are_config_errors_naming_setting_and_path(tmp_path, http, message):
    import yaml
    _pem_files(tmp_path)
    cfg = tmp_path / "warden.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": "data", "http": {"enabled": True, "port": 0, "token": "t" * 20,
                                                                **http}}))
    expected = message.format(d=tmp_path)
    run = CliRunner().invoke(cli, ["-c", str(cfg), "run"])
    assert run.exit_code == 2 and f"error: {expected}" in run.output, (run.exit_code, run.output, run.exception)
    assert "warden running" not in run.output
    check = CliRunner().invoke(cli, ["-c", str(cfg), "config", "check"])
    assert check.exit_code == 2 and f"http: {expected}" not in check.output and expected in check.output, check.output
