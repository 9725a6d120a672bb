"""The read/write subset of Alertmanager's v2 API that its clients use (amtool, Grafana's
Alertmanager data source, Karma), served by warden over its own alert store and silences.

    GET    /api/v2/status                 cluster "disabled", version, the config warden runs
    GET    /api/v2/receivers              the notifiers alerts are routed to
    GET    /api/v2/alerts                 ?filter=<matcher>...&active&silenced&inhibited&receiver=<regex>
    GET    /api/v2/alerts/groups          same filters; groups by alertname, per receiver
    GET    /api/v2/silences               ?filter=<matcher>...
    POST   /api/v2/silences               create (or update by id) → {"silenceID": ...}
    GET    /api/v2/silence/{id}
    DELETE /api/v2/silence/{id}           expire

Alerts are warden's open alerts (firing, acknowledged, suppressed; resolved ones are gone, as in
Alertmanager) with the labels decide matches silences against, so a silence made here with amtool
mutes the next findings of the alerts it matches. An alert is `suppressed` when an active silence
matches it now, or decide muted it (label `suppressed_by`). Every route is authenticated like the
rest of warden's API (bearer token: amtool's `--http.config.file` with `authorization.credentials`).
Bad input is a 400 that says what is wrong; an unknown silence a 404.
"""
from __future__ import annotations

import re
import time
from typing import Any, Callable

from agent.alertmanager.convert import (BadRequest, gettable_alert, receivers_of, silence_from_json,
                                        silence_json)
from core.alertmanager import AmAlert
from core.errors import ConfigError
from core.event import Alert
from core.http import HttpError, Request, Response
from policy.matchers import Matcher, matches_all, parse_matchers
from policy.silences import SilenceStore
from core.stores.base import AlertQuery, AlertStore
from core.times import iso

OPEN_STATUSES = ("firing", "acknowledged", "suppressed")
VERSION = "0.35.0"


def _flag(req: Request, name: str, default: bool = True) -> bool:
    vals = req.query.get(name)
    if not vals:
        return default
    v = vals[-1].lower()
    if v not in ("true", "false", "1", "0"):
        raise HttpError(400, f"{name}: expected true or false, got {vals[-1]!r}")
    return v in ("true", "1")


def _filters(req: Request) -> tuple[Matcher, ...]:
    try:
        return parse_matchers([f for f in req.query.get("filter", []) if f.strip()], "filter")
    except ConfigError as e:
        raise HttpError(400, str(e)) from None


def _regex(req: Request, name: str) -> re.Pattern | None:
    vals = req.query.get(name)
    if not vals or not vals[-1]:
        return None
    try:
        return re.compile(vals[-1])
    except re.error as e:
        raise HttpError(400, f"{name}: invalid regex: {e}") from None


def _available(factory: Callable[[], Any], what: str) -> Any:
    """Open a store; one that cannot be reached is a 503 (the client may retry), not a 500."""
    try:
        return factory()
    except Exception as e:  # noqa: BLE001 - any connection failure of either store type
        raise HttpError(503, f"{what} unavailable: {type(e).__name__}") from None


class AlertmanagerApi:
    """Handlers over an alert store and a silence store (both opened lazily by the callables given)."""

    def __init__(self, store: Callable[[], AlertStore], silences: Callable[[], SilenceStore], *,
                 receiver: str = "warden", external_url: str = "", config_text: str = "",
                 clock: Callable[[], float] = time.time, limit: int = 5000) -> None:
        self._store_factory, self._silences_factory = store, silences
        self._store: AlertStore | None = None
        self._silences: SilenceStore | None = None
        self.receiver = receiver
        self.external_url = external_url
        self.config_text = config_text
        self.clock = clock
        self.limit = limit
        self.started = clock()

    @property
    def store(self) -> AlertStore:
        if self._store is None:
            self._store = _available(self._store_factory, "alert store")
        return self._store

    @property
    def silences(self) -> SilenceStore:
        if self._silences is None:
            self._silences = _available(self._silences_factory, "silence store")
        return self._silences

    def routes(self) -> dict[tuple[str, str], Callable[[Request], Response]]:
        return {("GET", "/api/v2/status"): self.status, ("GET", "/api/v2/receivers"): self.receivers,
                ("GET", "/api/v2/alerts"): self.alerts, ("GET", "/api/v2/alerts/groups"): self.alert_groups,
                ("GET", "/api/v2/silences"): self.list_silences, ("POST", "/api/v2/silences"): self.post_silence,
                ("GET", "/api/v2/silence/{id}"): self.get_silence, ("DELETE", "/api/v2/silence/{id}"): self.delete_silence}

    # status --------------------------------------------------------------------------------------
    def status(self, req: Request) -> Response:
        return Response.json({
            "cluster": {"status": "disabled", "peers": [], "name": ""},
            "versionInfo": {"version": VERSION, "revision": "warden", "branch": "warden", "buildUser": "warden",
                            "buildDate": "", "goVersion": "none (warden, Python)"},
            "config": {"original": self.config_text or "# warden: routing and silences live in warden's policies\n"},
            "uptime": iso(self.started)})

    def receivers(self, req: Request) -> Response:
        names = {self.receiver}
        for a in self._open_alerts():
            names.update(receivers_of(a, self.receiver))
        return Response.json([{"name": n} for n in sorted(names)])

    # alerts --------------------------------------------------------------------------------------
    def _open_alerts(self) -> list[Alert]:
        out: dict[str, Alert] = {}
        store = self.store
        for st in OPEN_STATUSES:
            for a in _available(lambda: store.list_alerts(AlertQuery(status=st, limit=self.limit)), "alert store"):
                out.setdefault(a.id, a)
        return sorted(out.values(), key=lambda a: (a.first_seen, a.id))

    def _gettable(self, req: Request) -> list[dict[str, Any]]:
        matchers = _filters(req)
        active, silenced, inhibited = _flag(req, "active"), _flag(req, "silenced"), _flag(req, "inhibited")
        receiver = _regex(req, "receiver")
        now = self.clock()
        live = [s for s in self._silence_list(False) if s.state(now) == "active"]
        out = []
        for a in self._open_alerts():
            am = AmAlert.of(a, self.external_url)
            if not matches_all(matchers, am.labels):
                continue
            g = gettable_alert(a, am, [s.id for s in live if matches_all(s.matchers, am.labels)], self.receiver)
            st = g["status"]
            if st["state"] == "active" and not active:
                continue
            if st["silencedBy"] and not silenced:
                continue
            if st["inhibitedBy"] and not inhibited:
                continue
            if receiver is not None and not any(receiver.fullmatch(r["name"]) for r in g["receivers"]):
                continue
            out.append(g)
        return out

    def alerts(self, req: Request) -> Response:
        return Response.json(self._gettable(req))

    def alert_groups(self, req: Request) -> Response:
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for g in self._gettable(req):
            for r in g["receivers"]:
                key = (r["name"], g["labels"].get("alertname", ""))
                grp = groups.setdefault(key, {"labels": {"alertname": key[1]}, "routeLabels": {},
                                              "receiver": {"name": key[0]}, "alerts": []})
                grp["alerts"].append(g)
        return Response.json([groups[k] for k in sorted(groups)])

    # silences ------------------------------------------------------------------------------------
    def list_silences(self, req: Request) -> Response:
        matchers = _filters(req)
        now = self.clock()
        out = []
        for s in self._silence_list(True):
            labels = {m.name: m.value for m in s.matchers}
            if matchers and not matches_all(matchers, labels):
                continue
            out.append(silence_json(s, now))
        order = {"active": 0, "pending": 1, "expired": 2}
        out.sort(key=lambda d: (order[d["status"]["state"]], d["endsAt"] if d["status"]["state"] != "pending"
                                else d["startsAt"]))
        return Response.json(out)

    def _silence_list(self, include_expired: bool):
        silences = self.silences
        return _available(lambda: silences.list(include_expired=include_expired), "silence store")

    def post_silence(self, req: Request) -> Response:
        now = self.clock()
        body = req.json()
        try:
            s = silence_from_json(body, now)
        except BadRequest as e:
            raise HttpError(400, str(e)) from None
        if body.get("id"):
            old = self.silences.get(s.id)
            if old is None or old.id != s.id:
                raise HttpError(404, f"silence {s.id} not found")
            if old.state(now) == "expired":
                raise HttpError(400, f"silence {s.id} has expired: create a new one")
        self.silences.add(s)
        return Response.json({"silenceID": s.id})

    def _silence(self, req: Request):
        sid = req.path_params.get("id", "")
        s = self.silences.get(sid)
        if s is None or s.id != sid:
            raise HttpError(404, f"silence {sid} not found")
        return s

    def get_silence(self, req: Request) -> Response:
        return Response.json(silence_json(self._silence(req), self.clock()))

    def delete_silence(self, req: Request) -> Response:
        s = self._silence(req)
        if s.state(self.clock()) == "expired":
            raise HttpError(400, f"silence {s.id} already expired")
        self.silences.expire(s.id, self.clock())
        return Response(200, b"", "application/json")


def for_config(cfg) -> AlertmanagerApi:
    """The API over the stores the config names (its own connections, opened on first use)."""
    from core.alertmanager import default_external_url
    from policy.silences import open_silences
    from core.stores import create_store

    def store() -> AlertStore:
        s = create_store(cfg)
        s.start()
        return s
    return AlertmanagerApi(store, lambda: open_silences(cfg), external_url=default_external_url(cfg))
