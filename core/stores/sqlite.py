"""SQLite alert/action store: the embedded default (one file, WAL mode, safe for one writer
process and many CLI readers)."""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

from core import codec
from core.event import SEVERITY_RANK, Action, Alert
from core.sqlite import open_sqlite
from core.stores.base import AlertQuery, AlertStore, alert_document, alert_from_document
from core.stores.search import AlertPage, AlertSearch, like_pattern
from core.stores.workflow import ConcurrentChange

_WF = "json_extract(CAST(workflow AS TEXT), '$.status')"
# the status people see (alert_from_document): the workflow's, unless the pipeline resolved after an ack
_EFFECTIVE_STATUS = (f"CASE WHEN {_WF} IS NOT NULL AND {_WF} != '' AND NOT (status = 'resolved' AND "
                     f"{_WF} = 'acknowledged') THEN {_WF} ELSE status END")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
  id TEXT PRIMARY KEY, doc BLOB NOT NULL, workflow BLOB NOT NULL DEFAULT '{}',
  rule TEXT, entity TEXT, severity_rank INTEGER, status TEXT, first_seen REAL, last_seen REAL);
CREATE INDEX IF NOT EXISTS alerts_last_seen ON alerts(last_seen);
CREATE TABLE IF NOT EXISTS actions (
  id TEXT PRIMARY KEY, alert_id TEXT, time REAL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS actions_alert ON actions(alert_id);
"""


class SqliteStore(AlertStore):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.start()
        assert self._db is not None
        return self._db

    def start(self) -> None:
        if self._db is not None:
            return
        self._db = open_sqlite(self.path, synchronous="NORMAL")
        self._db.executescript(_SCHEMA)

    def upsert_alerts(self, alerts: list[Alert]) -> None:
        rows = [(a.id, codec.dumps(alert_document(a)), a.rule, a.entity, SEVERITY_RANK.get(a.severity, 0),
                 a.status, a.first_seen, a.last_seen) for a in alerts]
        with self._lock, self.db:
            self.db.executemany(
                "INSERT INTO alerts(id, doc, rule, entity, severity_rank, status, first_seen, last_seen) "
                "VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET doc=excluded.doc, "
                "severity_rank=excluded.severity_rank, status=excluded.status, last_seen=excluded.last_seen, "
                "rule=excluded.rule",
                rows)

    def put_actions(self, actions: list[Action]) -> None:
        rows = [(a.id, a.alert_id, a.time, codec.encode(a)) for a in actions]
        with self._lock, self.db:
            self.db.executemany("INSERT INTO actions(id, alert_id, time, doc) VALUES (?,?,?,?) "
                                "ON CONFLICT(id) DO UPDATE SET doc=excluded.doc, time=excluded.time", rows)

    def _alert(self, doc: bytes, wf: bytes) -> Alert:
        d = orjson.loads(doc)
        d["workflow"] = orjson.loads(wf)
        return alert_from_document(d)

    def list_alerts(self, q: AlertQuery) -> list[Alert]:
        sql, args = "SELECT doc, workflow FROM alerts WHERE 1=1", []
        if q.since is not None:
            sql += " AND last_seen >= ?"
            args.append(q.since)
        if q.severity:
            sql += " AND severity_rank >= ?"
            args.append(SEVERITY_RANK[q.severity])
        if q.rule:
            sql += " AND rule = ?"
            args.append(q.rule)
        if q.entity:
            sql += " AND entity = ?"
            args.append(q.entity)
        sql += " ORDER BY last_seen DESC, id"
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        out = [a for a in (self._alert(d, w) for d, w in rows) if q.matches(a)]
        return out[: q.limit]

    def search_alerts(self, q: AlertSearch) -> AlertPage:
        where, args = ["1=1"], []
        for cond, val in ((f"{_EFFECTIVE_STATUS} = ?", q.status),
                          ("severity_rank >= ?", SEVERITY_RANK[q.severity] if q.severity else None),
                          ("entity = ?", q.entity), ("last_seen >= ?", q.since), ("first_seen <= ?", q.until)):
            if val is not None and val != "":
                where.append(cond)
                args.append(val)
        if q.detector:
            where.append("json_extract(CAST(doc AS TEXT), '$.warden.alert.detector') IN (?, ?) "
                         "OR json_extract(CAST(doc AS TEXT), '$.warden.alert.detector') LIKE ? ESCAPE '\\'")
            where[-1] = f"({where[-1]})"
            args += [q.detector, q.detector, like_pattern(q.detector + "/")[1:]]
        if q.text:
            where.append("(id LIKE ? ESCAPE '\\' OR lower(entity || ' ' || rule || ' ' || "
                         "json_extract(CAST(doc AS TEXT), '$.warden.alert.title')) LIKE ? ESCAPE '\\' OR EXISTS ("
                         "SELECT 1 FROM json_each(CAST(doc AS TEXT), '$.labels') "
                         "WHERE lower(key || '=' || value) LIKE ? ESCAPE '\\'))")
            args += [like_pattern(q.text.lower())[1:], like_pattern(q.text.lower()), like_pattern(q.text.lower())]
        cond = " AND ".join(where)
        with self._lock:
            (total,) = self.db.execute(f"SELECT count(*) FROM alerts WHERE {cond}", args).fetchone()
            rows = self.db.execute(f"SELECT doc, workflow FROM alerts WHERE {cond} ORDER BY last_seen DESC, id "
                                   "LIMIT ? OFFSET ?", [*args, q.limit, q.offset]).fetchall()
        return AlertPage(int(total), [self._alert(d, w) for d, w in rows])

    def get_alert(self, alert_id: str) -> Alert | None:
        with self._lock:
            row = self.db.execute("SELECT doc, workflow FROM alerts WHERE id = ? OR id LIKE ? ORDER BY id LIMIT 2",
                                  (alert_id, alert_id + "%")).fetchall()
        if len(row) != 1:
            return None
        return self._alert(*row[0])

    def list_actions(self, alert_id: str | None = None, limit: int = 100) -> list[Action]:
        limit = min(limit, self.max_result_window)     # a larger number is "all" (SQLite refuses it)
        with self._lock:
            if alert_id:
                rows = self.db.execute("SELECT doc FROM actions WHERE alert_id = ? ORDER BY time, id LIMIT ?",
                                       (alert_id, limit)).fetchall()
            else:
                rows = self.db.execute("SELECT doc FROM actions ORDER BY time DESC, id LIMIT ?", (limit,)).fetchall()
        return [codec.decode(r[0], "action") for r in rows]

    def _read_workflow(self, alert_id: str):
        with self._lock:
            rows = self.db.execute("SELECT doc, workflow FROM alerts WHERE id = ? OR id LIKE ? ORDER BY id LIMIT 2",
                                   (alert_id, alert_id + "%")).fetchall()
        if len(rows) != 1:
            return None
        doc, wf = rows[0]
        return orjson.loads(doc), orjson.loads(wf), wf

    def _write_workflow(self, alert_id: str, workflow: dict[str, Any], token: Any) -> None:
        with self._lock, self.db:
            cur = self.db.execute("UPDATE alerts SET workflow = ? WHERE id = ? AND workflow = ?",
                                  (orjson.dumps(workflow), alert_id, token))
            if cur.rowcount != 1:
                raise ConcurrentChange(f"alert {alert_id[:12]} was changed meanwhile; try again")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
