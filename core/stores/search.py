"""Paged alert search for the web page: filters, free text, offset paging and the total, done by
the store (SQL in SQLite, a bool query in Elasticsearch) so 10,000 alerts cost one page of
decoding, not 10,000.

The status a person sees is the `workflow` status when one was set (ack, resolve by hand), except
that an alert the pipeline resolved after the ack stays resolved (`alert_from_document`); both
stores filter on that same effective status.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.event import SEVERITY_RANK, Alert

STATUSES = ("firing", "acknowledged", "resolved", "suppressed")


@dataclass
class AlertSearch:
    status: str | None = None
    severity: str | None = None      # minimum severity
    detector: str | None = None      # component name (baseline/default) or type (baseline)
    entity: str | None = None        # exact entity
    since: float | None = None       # last_seen >= since
    until: float | None = None       # first_seen <= until
    text: str = ""                   # free text: title, entity, rule, labels, id prefix
    offset: int = 0
    limit: int = 50

    def __post_init__(self) -> None:
        if self.status and self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if self.severity and self.severity not in SEVERITY_RANK:
            raise ValueError(f"unknown severity {self.severity!r}")
        self.offset = max(0, int(self.offset))
        self.limit = max(1, min(500, int(self.limit)))

    def matches(self, a: Alert) -> bool:
        """The same filter in Python (stores without their own search, and tests)."""
        if self.status and a.status != self.status:
            return False
        if self.severity and SEVERITY_RANK.get(a.severity, 0) < SEVERITY_RANK[self.severity]:
            return False
        if self.detector and self.detector not in (a.detector, a.detector.split("/")[0]):
            return False
        if self.entity and a.entity != self.entity:
            return False
        if self.since is not None and a.last_seen < self.since:
            return False
        if self.until is not None and a.first_seen > self.until:
            return False
        if self.text:
            hay = " ".join([a.id, a.title, a.entity, a.rule, *(f"{k}={v}" for k, v in a.labels.items())]).lower()
            if self.text.lower() not in hay:
                return False
        return True


@dataclass
class AlertPage:
    total: int
    alerts: list[Alert] = field(default_factory=list)


def like_pattern(text: str) -> str:
    """A SQL LIKE pattern matching `text` anywhere (with `\\` as the escape character)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
