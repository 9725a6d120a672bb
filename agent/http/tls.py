"""The server's TLS context from the `http.tls_cert`, `http.tls_key` and `http.client_ca` files.

Every way those files can be unusable — missing, a folder, unreadable, not PEM, a key that does not
belong to the certificate, a key with a passphrase (warden has no setting for one; OpenSSL would
otherwise stop and prompt on the terminal) — is a ConfigError naming the setting and the path, so
`warden run` exits 2 with one `error:` line and `warden config check` reports it before a start."""
from __future__ import annotations

import ssl
from pathlib import Path

from core.errors import ConfigError


def _readable(setting: str, path: str) -> None:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"http.{setting}: no such file {path}" if not p.exists()
                          else f"http.{setting}: {path} is not a file")
    try:
        with open(p, "rb"):
            pass
    except OSError as e:
        raise ConfigError(f"http.{setting}: cannot read {path} ({e.strerror})") from None


def _no_passphrase() -> bytes:
    raise ConfigError("encrypted")


def server_ssl_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """TLS 1.2+ server context; with `client_ca`, client certificates from that CA are required."""
    for setting, path in (("tls_cert", cert), ("tls_key", key), ("client_ca", client_ca)):
        if path:
            _readable(setting, path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key, password=_no_passphrase)
    except ConfigError:
        raise ConfigError(f"http.tls_key: {key} is encrypted with a passphrase (warden has no passphrase "
                          "setting: give it the decrypted key, kept as a secret)") from None
    except ssl.SSLError as e:
        raise ConfigError(f"http.tls_cert / http.tls_key: {cert} and {key} are not a PEM certificate and its "
                          f"private key ({e.reason or e})") from None
    if client_ca:
        try:
            ctx.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as e:
            raise ConfigError(f"http.client_ca: {client_ca} holds no PEM CA certificate ({e.reason or e})") from None
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
