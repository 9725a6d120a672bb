"""Silences: label matchers with a time window. A silenced alert is still stored (status
`suppressed`, label `suppressed_by=silence:<id>`) but no responder runs for it; every silenced
finding is counted (`decide.silenced`).

Stored next to the alerts: a `silences` table in the SQLite store file, or a `<prefix>-silences`
index when the store is Elasticsearch. `open_silences(cfg)` picks the one the config names.

The decide stage reads them through `SilenceCache`: the last known set, re-read every `refresh_s`.
When the store is unreachable (Elasticsearch down) the cached set keeps being served — decide does
not stall on it — every lookup served from a stale cache is counted (`decide.silences_stale_reads`)
as is every failed refresh (`decide.silences_refresh_errors`), and the store is tried again after
`retry_s`, doubling up to `retry_max_s`. An Elasticsearch read is bounded (`read_timeout_s`, no
client retries).
"""
from __future__ import annotations

import abc
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from policy.matchers import Matcher, matches_all, parse_matchers
from core.sqlite import open_sqlite
from core.times import LATEST_TIME
from core.stores.unreachable import reaching

log = logging.getLogger("warden.silences")


@dataclass
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""
    created_at: float = field(default_factory=time.time)

    @classmethod
    def new(cls, matchers: Any, *, duration: float | None = None, ends_at: float | None = None,
            starts_at: float | None = None, created_by: str = "", comment: str = "") -> "Silence":
        ms = matchers if isinstance(matchers, tuple) and all(isinstance(m, Matcher) for m in matchers) \
            else parse_matchers(matchers)
        if not ms:
            raise ValueError("a silence needs at least one matcher")
        if all(m.matches({}) for m in ms):     # Alertmanager's rule: such a silence would mute every alert
            raise ValueError(f"a silence needs at least one matcher that does not match the empty string "
                             f"({', '.join(str(m) for m in ms)} also match alerts without those labels: it "
                             "would mute nearly every alert)")
        start = time.time() if starts_at is None else starts_at
        end = ends_at if ends_at is not None else start + (duration if duration is not None else 3600.0)
        if end <= start:
            raise ValueError("a silence must end after it starts")
        if not end <= LATEST_TIME:     # it could be neither shown nor listed (a year-273,792,727 end was)
            raise ValueError("a silence must end by 9999-12-31 23:59:59 UTC, the latest time warden can show")
        return cls(id=str(uuid.uuid4()), matchers=ms, starts_at=start, ends_at=end, created_by=created_by,
                   comment=comment)

    def state(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def silences(self, labels: dict[str, str], now: float | None = None) -> bool:
        return self.state(now) == "active" and matches_all(self.matchers, labels)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "matchers": [m.to_dict() for m in self.matchers], "starts_at": self.starts_at,
                "ends_at": self.ends_at, "created_by": self.created_by, "comment": self.comment,
                "created_at": self.created_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Silence":
        return cls(id=d["id"], matchers=tuple(Matcher(m["name"], m["op"], m["value"]) for m in d["matchers"]),
                   starts_at=float(d["starts_at"]), ends_at=float(d["ends_at"]), created_by=d.get("created_by", ""),
                   comment=d.get("comment", ""), created_at=float(d.get("created_at", 0.0)))


class SilenceStore(abc.ABC):
    @abc.abstractmethod
    def add(self, s: Silence) -> None: ...

    @abc.abstractmethod
    def list(self, include_expired: bool = False) -> list[Silence]: ...

    def get(self, sid: str) -> Silence | None:
        """By id or unique id prefix."""
        hits = [s for s in self.list(include_expired=True) if s.id == sid or s.id.startswith(sid)]
        exact = [s for s in hits if s.id == sid]
        return exact[0] if exact else (hits[0] if len(hits) == 1 else None)

    def expire(self, sid: str, now: float | None = None) -> Silence | None:
        s = self.get(sid)
        if s is None:
            return None
        now = time.time() if now is None else now
        if s.ends_at > now:
            s.ends_at = now
            if s.starts_at > now:
                s.starts_at = now
            self.add(s)
        return s

    def close(self) -> None:
        pass


class SqliteSilenceStore(SilenceStore):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.db = open_sqlite(self.path)
        self.db.execute("CREATE TABLE IF NOT EXISTS silences (id TEXT PRIMARY KEY, starts_at REAL, ends_at REAL, "
                        "doc BLOB NOT NULL)")
        self.db.commit()

    def add(self, s: Silence) -> None:
        with self._lock, self.db:
            self.db.execute("INSERT INTO silences(id, starts_at, ends_at, doc) VALUES (?,?,?,?) ON CONFLICT(id) "
                            "DO UPDATE SET starts_at=excluded.starts_at, ends_at=excluded.ends_at, doc=excluded.doc",
                            (s.id, s.starts_at, s.ends_at, orjson.dumps(s.to_dict())))

    def list(self, include_expired: bool = False) -> list[Silence]:
        sql = "SELECT doc FROM silences"
        args: tuple = ()
        if not include_expired:
            sql += " WHERE ends_at > ?"
            args = (time.time(),)
        with self._lock:
            rows = self.db.execute(sql + " ORDER BY starts_at, id", args).fetchall()
        return [Silence.from_dict(orjson.loads(r[0])) for r in rows]

    def close(self) -> None:
        self.db.close()


class ElasticsearchSilenceStore(SilenceStore):
    """`<prefix>-silences`, silence id as document id (same client options as the alert store)."""

    MAPPINGS = {"dynamic": False, "properties": {"id": {"type": "keyword"}, "starts_at": {"type": "double"},
                                                 "ends_at": {"type": "double"}, "matchers": {"type": "object", "enabled": False},
                                                 "created_by": {"type": "keyword"}, "comment": {"type": "text"},
                                                 "created_at": {"type": "double"}}}

    #: one silences read never holds the decide stage longer than this (the cache serves meanwhile)
    read_timeout_s = 2.0

    def __init__(self, store_cfg, es=None) -> None:
        from elasticsearch import Elasticsearch
        self.index = f"{store_cfg.index_prefix}-silences"
        self.hosts = list(getattr(store_cfg, "hosts", None) or ["the configured hosts"])
        if es is None:
            kw: dict[str, Any] = {"request_timeout": 10}
            if store_cfg.api_key:
                kw["api_key"] = store_cfg.api_key
            if store_cfg.ca_certs:
                kw["ca_certs"] = store_cfg.ca_certs
            if not store_cfg.verify_certs:
                kw["verify_certs"] = False
            es = Elasticsearch(store_cfg.hosts, **kw)
        self.es = es
        self._ready = False

    def _start(self) -> None:
        if self._ready:
            return
        if not self.es.indices.exists(index=self.index):
            try:
                self.es.indices.create(index=self.index, settings={"number_of_shards": 1, "number_of_replicas": 0},
                                       mappings=self.MAPPINGS)
            except Exception as e:  # noqa: BLE001 - created concurrently
                if "resource_already_exists" not in str(e):
                    raise
        self._ready = True

    def add(self, s: Silence) -> None:
        with reaching(self.hosts):
            self._start()
            self.es.index(index=self.index, id=s.id, document=s.to_dict(), refresh="wait_for")

    def _reader(self):
        opts = getattr(self.es, "options", None)
        return opts(request_timeout=self.read_timeout_s, max_retries=0) if opts is not None else self.es

    def list(self, include_expired: bool = False) -> list[Silence]:
        es = self._reader()
        with reaching(self.hosts):
            if not self._ready:
                if not es.indices.exists(index=self.index):
                    return []      # nothing silenced yet: the first add() creates the index
                self._ready = True
            query = {"match_all": {}} if include_expired else {"range": {"ends_at": {"gt": time.time()}}}
            res = es.search(index=self.index, query=query, size=1000, sort=[{"starts_at": "asc"}])
        return [Silence.from_dict(h["_source"]) for h in res["hits"]["hits"]]

    def close(self) -> None:
        self.es.close()


def open_silences(cfg) -> SilenceStore:
    if cfg.store.type == "elasticsearch":
        return ElasticsearchSilenceStore(cfg.store)
    return SqliteSilenceStore(cfg.sqlite_path)


class SilenceCache:
    """The active silences, re-read from the store at most every `refresh_s` (monotonic clock).

    A failed refresh keeps the last known silences (the cache is *stale* until a refresh
    succeeds): lookups go on, each counted as a stale read; the store is not asked again before
    `retry_s` (doubling per consecutive failure up to `retry_max_s`), even by a forced refresh, so
    a store that hangs costs one bounded read now and then, not one per batch."""

    def __init__(self, store: SilenceStore | None, refresh_s: float = 2.0, *, retry_s: float | None = None,
                 retry_max_s: float = 30.0, counters=None, clock=time.monotonic) -> None:
        if counters is None:
            from core.counters import COUNTERS as counters
        self.store = store
        self.refresh_s = refresh_s
        self.retry_s = max(refresh_s, 5.0) if retry_s is None else retry_s
        self.retry_max_s = max(retry_max_s, self.retry_s)
        self.failures = 0
        self.counters = counters
        self.clock = clock
        self._items: list[Silence] = []
        self._at = -1e18
        self._failed_at = -1e18
        self.stale = False
        self.last_error = ""

    def refresh(self, force: bool = False) -> None:
        if self.store is None:
            return
        now = self.clock()
        if self.stale and now - self._failed_at < min(self.retry_max_s, self.retry_s * 2 ** (self.failures - 1)):
            return
        if not force and not self.stale and now - self._at < self.refresh_s:
            return
        try:
            items = self.store.list(include_expired=False)
        except Exception as e:  # noqa: BLE001 - any store failure: serve the last known silences
            self._failed_at = now
            self.failures += 1
            self.counters.inc("decide.silences_refresh_errors")
            self.last_error = f"{type(e).__name__}: {e}"[:300]
            if not self.stale:
                log.warning("silence store unreachable, serving the %d cached silences: %s",
                            len(self._items), self.last_error)
            self.stale = True
            return
        if self.stale:
            log.info("silence store reachable again (%d silences)", len(items))
        self._items = items
        self._at = now
        self.stale = False
        self.failures = 0

    @property
    def items(self) -> list[Silence]:
        return list(self._items)

    def match(self, labels: dict[str, str], now: float | None = None) -> Silence | None:
        self.refresh()
        if self.stale:
            self.counters.inc("decide.silences_stale_reads")
        for s in self._items:
            if s.silences(labels, now):
                return s
        return None
