"""The Actions (action log and its hash chain), Silences and Status pages, and the action buttons
(approve, reject, undo) used here and on the Alert page."""
from __future__ import annotations

import threading
import time
from collections import deque
from urllib.parse import quote

from core.http import Request, Response
from agent.ui import operations, render
from agent.ui.app import PREFIX, UiContext, action, page
from agent.ui.auth import Form, Session

TREND_POINTS = 60
#: counters drawn as small trend charts on the Status page (sampled each time the page is read)
TRENDS = ("collect.records", "detect.records", "decide.records", "act.records", "collect.deadletter",
          "detect.deadletter", "decide.alerts_opened", "act.done", "act.dry_run", "decide.silenced")


class Trends:
    """Counter samples taken when the Status page is read (bounded), for its sparklines."""

    def __init__(self, points: int = TREND_POINTS) -> None:
        self._samples: deque[tuple[float, dict[str, float]]] = deque(maxlen=points)
        self._lock = threading.Lock()

    def sample(self, counters: dict[str, float], now: float) -> None:
        with self._lock:
            self._samples.append((now, {k: float(counters.get(k, 0)) for k in TRENDS}))

    def sparklines(self, width: int = 160, height: int = 28) -> list[dict]:
        with self._lock:
            samples = list(self._samples)
        out = []
        for k in TRENDS:
            ys = [s[1][k] for s in samples]
            lo, hi = (min(ys), max(ys)) if ys else (0.0, 0.0)
            span = (hi - lo) or 1.0
            n = max(len(ys) - 1, 1)
            pts = " ".join(f"{round(i / n * width, 1)},{round(height - 2 - (y - lo) / span * (height - 4), 1)}"
                           for i, y in enumerate(ys))
            out.append({"name": k, "points": pts, "last": ys[-1] if ys else 0, "n": len(ys)})
        return out


class StatusCache:
    """`warden status`'s collection (agent.cli.status), reused for `ttl_s`: the page polls it, and it
    reads the whole store and the action log."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._at, self._value = -1e18, None
        self._lock = threading.Lock()

    def get(self, cfg) -> dict:
        from agent.status import collect_status
        with self._lock:
            if self._value is None or time.monotonic() - self._at >= self.ttl_s:
                self._value, self._at = collect_status(cfg), time.monotonic()
            return self._value


def routes(ui: UiContext):
    trends = Trends()
    status = StatusCache(ui.options.refresh_s)

    def actions_page(req: Request, s: Session) -> Response:
        from policy.action_log import ActionLog
        items = sorted(ui.store.list_actions(limit=500), key=lambda x: (-x.time, x.id))
        log = ActionLog.for_data_dir(ui.cfg.data_dir)
        return ui.page("actions.html", s, items=items, chain=log.verify(), log_path=str(log.path), prefix=PREFIX)

    def do(op: str):
        def post(req: Request, s: Session, form: Form) -> Response:
            by = form.get("by") or s.principal
            aid = req.path_params["id"]
            if op == "approve":
                act = operations.approve(ui.cfg, ui.store, aid, by)
            elif op == "reject":
                act = operations.reject(ui.cfg, ui.store, aid, by, form.get("note"))
            else:
                act = operations.undo(ui.cfg, ui.store, aid, by)
            back = form.get("back")
            target = back if back.startswith(f"{PREFIX}/") and "//" not in back else f"{PREFIX}/actions"
            return render.redirect(target + ("&" if "?" in target else "?") + f"done={quote(act.id[:12])}")
        return post

    def silences_page(req: Request, s: Session) -> Response:
        from policy.silences import open_silences
        st = open_silences(ui.cfg)
        try:
            items = st.list(include_expired=bool(req.query.get("all")))
        finally:
            st.close()
        now = time.time()
        return ui.page("silences.html", s, items=[(x, x.state(now)) for x in items], prefix=PREFIX)

    def expire(req: Request, s: Session, form: Form) -> Response:
        operations.expire_silence(ui.cfg, req.path_params["id"])
        return render.redirect(f"{PREFIX}/silences")

    def status_page(req: Request, s: Session) -> Response:
        from core.stores.search import STATUSES, AlertSearch
        # alerts by status from the store's own count (warden status reads every alert to count them)
        st = {**status.get(ui.cfg),
              "alerts": {k: ui.store.search_alerts(AlertSearch(status=k, limit=1)).total for k in STATUSES}}
        live = ui.counters.snapshot() if ui.counters is not None else {}
        counters = {**st["counters"], **live}
        trends.sample(counters, time.time())
        template = "status_body.html" if req.query.get("fragment") else "status.html"
        return ui.page(template, s, st=st, counters=sorted(counters.items()), trends=trends.sparklines(),
                       prefix=PREFIX)

    return {("GET", f"{PREFIX}/actions"): page(ui, actions_page),
            ("POST", f"{PREFIX}/actions/{{id}}/approve"): action(ui, do("approve")),
            ("POST", f"{PREFIX}/actions/{{id}}/reject"): action(ui, do("reject")),
            ("POST", f"{PREFIX}/actions/{{id}}/undo"): action(ui, do("undo")),
            ("GET", f"{PREFIX}/silences"): page(ui, silences_page),
            ("POST", f"{PREFIX}/silences/{{id}}/expire"): action(ui, expire),
            ("GET", f"{PREFIX}/status"): page(ui, status_page)}
