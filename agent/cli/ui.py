"""`warden ui`: serve the triage web page (/ui) over the store the config names, without running
the pipeline (a stage process with `http.enabled` serves it too). Sign-in takes the API token
(`http.token` / WARDEN_HTTP_TOKEN) or, with `http.client_ca`, the client certificate; with
neither, a random token is made for this run and printed."""
from __future__ import annotations

import secrets
import signal
import threading

import click

from agent.cli.app import cli, pass_ctx, require_sqlite_store


@cli.command("ui")
@click.option("--host", default=None, help="Listen address (default: http.host).")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Port (default: http.port; 0 picks a free one).")
@click.option("--json", "as_json", is_flag=True, help="Print the start line (url, store, made token) as JSON on stdout.")
@pass_ctx
def ui_cmd(ctx, host, port, as_json) -> None:
    """Serve the web page at http(s)://HOST:PORT/ui until interrupted."""
    from agent.http.server import HttpServer
    from core.stores import create_store
    from agent.ui import UiOptions, install

    cfg = ctx.cfg
    require_sqlite_store(cfg)    # a mistyped data_dir: exit 3, not a new empty store served as "no alerts"
    hc = cfg.http
    made = None
    if not hc.token and not hc.client_ca and not hc.tokens:   # nothing to sign in with
        made = hc.token = secrets.token_urlsafe(24)
    if host is not None:
        hc.host = host
    if port is not None:
        hc.port = port
    server = HttpServer.from_config(hc)
    store = create_store(cfg)
    store.start()
    install(server, cfg, store, options=UiOptions(redaction=hc.ui_redaction))
    server.start()
    h, p = server.address
    scheme = "https" if hc.tls_cert else "http"
    if as_json:
        from agent.cli.output import emit_json
        emit_json({"url": f"{scheme}://{h}:{p}/ui", "store": cfg.store.type, "token": made})
    click.echo(f"warden ui: {scheme}://{h}:{p}/ui  (store: {cfg.store.type})", err=True)
    if made:
        click.echo(f"sign-in token for this run: {made}", err=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.close()
        store.close()
