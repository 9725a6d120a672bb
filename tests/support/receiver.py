"""A real HTTP notification receiver for the delivery tests (http.server on 127.0.0.1, own thread).

It answers `status` (settable while it runs: 503 for a while, then 200), optionally with a
Retry-After header, records every request, and deduplicates accepted ones by Idempotency-Key the
way a receiver that honours the header would (`accepted` holds each key once, `duplicates` counts
accepted requests whose key it had already seen).
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, status: int = 200, retry_after: str | None = None) -> None:
        self.status = status
        self.retry_after = retry_after
        self.requests: list[tuple[int, dict, bytes]] = []
        self.accepted: dict[str, dict] = {}
        self.duplicates = 0
        self._lock = threading.Lock()
        recv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers)
                with recv._lock:
                    code = recv.status
                    recv.requests.append((code, headers, body))
                    if code < 300:
                        key = headers.get("Idempotency-Key", "")
                        if key in recv.accepted:
                            recv.duplicates += 1
                        else:
                            recv.accepted[key] = json.loads(body)
                self.send_response(code)
                if code >= 400 and recv.retry_after is not None:
                    self.send_header("Retry-After", recv.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for c, _, _ in self.requests if status is None or c == status)

    def notified_alerts(self) -> list[tuple[str, str]]:
        """(warden alert id, status) of every alert in every accepted notification (deduplicated)."""
        with self._lock:
            return [(a["labels"]["warden_alert_id"], a["status"]) for p in self.accepted.values() for a in p["alerts"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
