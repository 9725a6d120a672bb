"""The Alerts page: filters (status, severity, detector, entity, time range, free text), rows
grouped by incident (the alert's grouping key), paging done by the store, and a rows-only
fragment (`/ui/alerts/rows`) that the page's script fetches for live updates."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.event import SEVERITIES, Alert
from core.http import HttpError, Request, Response
from core.stores.search import STATUSES, AlertSearch
from core.times import TimeFormatError, iso_to_epoch
from agent.ui.app import PREFIX, UiContext, page
from agent.ui.auth import Session

_REL = re.compile(r"^(\d+)\s*([smhd])$")
FILTERS = ("status", "severity", "detector", "entity", "since", "until", "q")


def filter_time(s: str, now: float) -> float | None:
    """'30m', '2h', '1d' ago, or an ISO time (a browser's datetime-local too; UTC when no zone)."""
    s = s.strip()
    if not s:
        return None
    m = _REL.match(s)
    if m:
        return now - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        return iso_to_epoch(s)
    except TimeFormatError:
        raise HttpError(400, f"bad time {s!r}: use 30m, 2h, 1d or an ISO time") from None


@dataclass
class Incident:
    key: str
    alerts: list[Alert] = field(default_factory=list)


def search_from(req: Request, page_size: int, now: float,
                window: int = 2 ** 63 - 1) -> tuple[AlertSearch, dict[str, str], int]:
    """The search a request asks for; a page beyond what the store pages through (`window`:
    offset + page size, AlertStore.max_result_window) is refused with the reason (400)."""
    f = {k: (req.query.get(k) or [""])[0].strip() for k in FILTERS}
    try:
        page_no = max(1, int((req.query.get("page") or ["1"])[0]))
    except ValueError:
        raise HttpError(400, "page must be a number") from None
    if page_no * page_size > window:
        raise HttpError(400, f"page {page_no} is beyond the first {window:,} alerts the store pages through "
                             f"(page {window // page_size} at most): narrow the filters")
    if f["status"] and f["status"] not in STATUSES:
        raise HttpError(400, f"unknown status {f['status']!r}")
    if f["severity"] and f["severity"] not in SEVERITIES:
        raise HttpError(400, f"unknown severity {f['severity']!r}")
    q = AlertSearch(status=f["status"] or None, severity=f["severity"] or None, detector=f["detector"] or None,
                    entity=f["entity"] or None, since=filter_time(f["since"], now), until=filter_time(f["until"], now),
                    text=f["q"], offset=(page_no - 1) * page_size, limit=page_size)
    return q, f, page_no


def incidents(alerts: list[Alert]) -> list[Incident]:
    """Rows of one page grouped by incident, in the order the incidents first appear."""
    out: dict[str, Incident] = {}
    for a in alerts:
        out.setdefault(a.group_key or a.id, Incident(a.group_key or a.id)).alerts.append(a)
    return list(out.values())


def routes(ui: UiContext):
    import time

    def listing(req: Request, s: Session, template: str) -> Response:
        q, f, page_no = search_from(req, ui.options.page_size, time.time(), ui.store.max_result_window)
        res = ui.store.search_alerts(q)
        pages = max(1, (res.total + q.limit - 1) // q.limit)
        return ui.page(template, s, filters=f, incidents=incidents(res.alerts), total=res.total, page_no=page_no,
                       pages=pages, shown=len(res.alerts), statuses=STATUSES, severities=SEVERITIES,
                       prefix=PREFIX)

    return {("GET", f"{PREFIX}/alerts"): page(ui, lambda req, s: listing(req, s, "alerts.html")),
            ("GET", f"{PREFIX}/alerts/rows"): page(ui, lambda req, s: listing(req, s, "alert_rows.html"))}
