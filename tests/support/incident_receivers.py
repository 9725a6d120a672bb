"""Local stand-ins for PagerDuty's Events API v2 and Opsgenie's Alert API v2: real HTTP servers on
127.0.0.1 that check every request against the documented contract (required fields, types, enums,
length limits, authentication) and answer the way the services do: 202 with their success body, or
400 / 422 / 401 with the reasons. They keep the incidents they were told about (dedup key → state)
and every request with the problems found in it."""
from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


def _str(errors: list[str], body: dict, name: str, *, required: bool = False, max_len: int | None = None) -> None:
    if name not in body:
        if required:
            errors.append(f"{name} is required")
        return
    v = body[name]
    if not isinstance(v, str):
        errors.append(f"{name} must be a string")
    elif required and not v.strip():
        errors.append(f"{name} must not be empty")
    elif max_len is not None and len(v) > max_len:
        errors.append(f"{name} is longer than {max_len} characters ({len(v)})")


class _Server:
    def __init__(self) -> None:
        self.requests: list[dict] = []      # {path, query, headers, body, errors, status}
        self.incidents: dict[str, str] = {}
        self._lock = threading.Lock()
        srv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                status, answer, errors = srv.handle(parts.path, parse_qs(parts.query), dict(self.headers), raw)
                with srv._lock:
                    srv.requests.append({"path": parts.path, "query": parse_qs(parts.query), "headers": dict(self.headers),
                                         "body": raw, "errors": errors, "status": status})
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def problems(self) -> list[str]:
        return [e for r in self.requests for e in r["errors"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PagerDutyEvents(_Server):
    """PagerDuty Events API v2, `POST /v2/enqueue`."""
    SEVERITIES = ("critical", "error", "warning", "info")
    ACTIONS = ("trigger", "acknowledge", "resolve")
    MAX_BYTES = 512 * 1024

    def __init__(self, routing_keys=()) -> None:
        self.routing_keys = set(routing_keys)      # integration keys of the services that exist
        super().__init__()

    @property
    def url(self) -> str:
        return self.base + "/v2/enqueue"

    def validate(self, headers: dict, raw: bytes) -> tuple[dict, list[str]]:
        errors: list[str] = []
        if not headers.get("Content-Type", "").startswith("application/json"):
            errors.append("Content-Type must be application/json")
        if len(raw) > self.MAX_BYTES:
            errors.append(f"event larger than {self.MAX_BYTES} bytes")
        try:
            ev = json.loads(raw)
        except ValueError:
            return {}, errors + ["body is not JSON"]
        if not isinstance(ev, dict):
            return {}, errors + ["event must be an object"]
        _str(errors, ev, "routing_key", required=True)
        if isinstance(ev.get("routing_key"), str) and len(ev["routing_key"]) != 32:
            errors.append("routing_key must be 32 characters")
        elif self.routing_keys and ev.get("routing_key") not in self.routing_keys:
            errors.append("Invalid routing key")
        if ev.get("event_action") not in self.ACTIONS:
            errors.append(f"event_action must be one of {self.ACTIONS}")
        _str(errors, ev, "dedup_key", required=ev.get("event_action") in ("acknowledge", "resolve"), max_len=255)
        for name in ("client", "client_url"):
            _str(errors, ev, name)
        if ev.get("event_action") == "trigger":
            p = ev.get("payload")
            if not isinstance(p, dict):
                return ev, errors + ["payload is required for trigger events"]
            _str(errors, p, "summary", required=True, max_len=1024)
            _str(errors, p, "source", required=True)
            if p.get("severity") not in self.SEVERITIES:
                errors.append(f"payload.severity must be one of {self.SEVERITIES}")
            for name in ("component", "group", "class"):
                _str(errors, p, name)
            if "timestamp" in p:
                try:
                    dt.datetime.fromisoformat(str(p["timestamp"]).replace("Z", "+00:00"))
                except ValueError:
                    errors.append("payload.timestamp must be ISO 8601")
            if "custom_details" in p and not isinstance(p["custom_details"], dict):
                errors.append("payload.custom_details must be an object")
            for link in ev.get("links", []):
                if not isinstance(link, dict) or not isinstance(link.get("href"), str):
                    errors.append("links[] need an href")
        return ev, errors

    def handle(self, path, query, headers, raw):
        if path != "/v2/enqueue":
            return 404, {"status": "not found"}, ["unknown path " + path]
        ev, errors = self.validate(headers, raw)
        if errors:
            return 400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, errors
        key = ev.get("dedup_key") or uuid.uuid4().hex
        with self._lock:
            state = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}[ev["event_action"]]
            if ev["event_action"] == "trigger" or key in self.incidents:
                self.incidents[key] = state
        return 202, {"status": "success", "message": "Event processed", "dedup_key": key}, []


class OpsgenieAlerts(_Server):
    """Opsgenie Alert API v2: create, acknowledge and close by alias."""
    LIMITS = {"message": 130, "alias": 512, "description": 15000, "entity": 512, "source": 100, "user": 100,
              "note": 25000}
    PRIORITIES = ("P1", "P2", "P3", "P4", "P5")

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        super().__init__()

    def _fields(self, body: dict, names) -> list[str]:
        errors: list[str] = []
        for n in names:
            _str(errors, body, n, required=n == "message", max_len=self.LIMITS[n])
        return errors

    def validate_create(self, body: dict) -> list[str]:
        errors = self._fields(body, ("message", "alias", "description", "entity", "source", "user", "note"))
        tags = body.get("tags", [])
        if not isinstance(tags, list) or len(tags) > 20 or any(not isinstance(t, str) or len(t) > 50 for t in tags):
            errors.append("tags: at most 20 strings of at most 50 characters")
        details = body.get("details", {})
        if not isinstance(details, dict) or any(not isinstance(v, str) for v in details.values()):
            errors.append("details must map strings to strings")
        elif sum(len(k) + len(v) for k, v in details.items()) > 8000:
            errors.append("details longer than 8000 characters in all")
        if "priority" in body and body["priority"] not in self.PRIORITIES:
            errors.append(f"priority must be one of {self.PRIORITIES}")
        for r in body.get("responders", []):
            if not isinstance(r, dict) or r.get("type") not in ("team", "user", "escalation", "schedule"):
                errors.append("responders[] need a type")
        return errors

    def handle(self, path, query, headers, raw):
        if headers.get("Authorization") != f"GenieKey {self.api_key}":
            return 401, {"message": "Could not authenticate", "took": 0.0, "requestId": str(uuid.uuid4())}, \
                ["missing or wrong GenieKey"]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 422, {"message": "body is not JSON"}, ["body is not JSON"]
        parts = path.strip("/").split("/")
        if parts == ["v2", "alerts"]:
            errors = self.validate_create(body)
            verb, alias = "create", body.get("alias") or str(uuid.uuid4())
        elif len(parts) == 4 and parts[:2] == ["v2", "alerts"] and parts[3] in ("acknowledge", "close"):
            verb, alias = parts[3], unquote(parts[2])
            errors = self._fields(body, ("source", "user", "note"))
            if query.get("identifierType") != ["alias"]:
                errors.append("identifierType=alias expected for a warden alias")
        else:
            return 404, {"message": "not found"}, ["unknown path " + path]
        if errors:
            return 422, {"message": "; ".join(errors), "took": 0.0, "requestId": str(uuid.uuid4())}, errors
        with self._lock:
            if verb == "create" and self.incidents.get(alias) not in ("open", "acknowledged"):
                self.incidents[alias] = "open"
            elif verb != "create" and alias in self.incidents:
                self.incidents[alias] = {"acknowledge": "acknowledged", "close": "closed"}[verb]
        return 202, {"result": "Request will be processed", "took": 0.01, "requestId": str(uuid.uuid4())}, []
