"""pySigma's SQLite backend as a reference evaluator for warden's Sigma engine.

Each record warden matches against (the collector's canonical record) is flattened the way Zircolite
and the backend's own documentation flatten events: one column per dotted path to a leaf, every column
`TEXT COLLATE NOCASE`, booleans as 'true'/'false', plus a full-text column holding every leaf value
for keyword search. A path that holds several values (a list) gives one row per combination of the
values of the rule's own fields (capped), and a record matches a rule when any of its rows does.
Rules are converted with `sqliteBackend(fulltext_field=...)`; REGEXP is Python's `re.search`.
"""
from __future__ import annotations

import itertools
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection

from detectors.sigma.fields import to_str

TABLE = "logs"
FULLTEXT = "fulltext_values"
MAX_ROWS = 256          # combinations of a record's list values kept for one rule


def flatten(obj: Any, prefix: str = "", out: dict[str, list] | None = None) -> dict[str, list]:
    """Dotted path -> every leaf value found at it (lists traversed, dicts descended)."""
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, list):
        for v in obj:
            flatten(v, prefix, out)
    elif prefix:
        out.setdefault(prefix, []).append(obj)
    return out


def sql_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return to_str(v)


@dataclass
class ReferenceRule:
    id: str
    title: str
    queries: list[str]
    fields: list[str]
    error: str | None = None


class Reference:
    """Rules converted once into one table's queries; `matches(record)` -> ids the backend's SQL selects.
    The table has a column for every field of every rule and keeps its schema, so each query is
    prepared once (sqlite3's statement cache) and only the rows change from record to record."""

    def __init__(self, rules: list[ReferenceRule]) -> None:
        self.rules = rules
        self.columns = sorted({f for r in rules for f in r.fields if f != FULLTEXT})
        names = self.columns + [FULLTEXT]
        self.con = sqlite3.connect(":memory:", cached_statements=4 * len(rules) + 16)
        self.con.create_function("REGEXP", 2, lambda rx, s: s is not None and re.search(rx, s) is not None,
                                 deterministic=True)
        self.con.execute(f"CREATE TABLE {TABLE} (" + ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in names) + ")")
        self._insert = f"INSERT INTO {TABLE} VALUES ({', '.join('?' for _ in names)})"

    @classmethod
    def from_rules(cls, sigma_rules: list) -> "Reference":
        backend = sqliteBackend(fulltext_field=FULLTEXT, table=TABLE)
        out = []
        for r in sigma_rules:
            rid = str(r.id) if r.id else (r.name or r.title)
            try:
                queries = backend.convert(SigmaCollection([r]))
                out.append(ReferenceRule(rid, r.title, list(queries), sorted(backend.required_fields(r))))
            except Exception as e:  # noqa: BLE001 - reported per rule, the test lists them
                out.append(ReferenceRule(rid, r.title, [], [], f"{type(e).__name__}: {e}"))
        return cls(out)

    def matches(self, record: Any, only: set[str] | None = None) -> tuple[set[str], set[str]]:
        """(ids matched, ids whose row combinations were capped) for one record (rules in `only`, or
        all). Rules are grouped by the multi-valued paths they read: one set of rows per group."""
        flat = flatten(record)
        text = "\n".join(to_str(v) for vals in flat.values() for v in vals if v is not None)
        groups: dict[tuple[str, ...], list[ReferenceRule]] = {}
        for r in self.rules:
            if not r.error and r.queries and (only is None or r.id in only):
                key = tuple(f for f in r.fields if len(flat.get(f, ())) > 1)
                groups.setdefault(key, []).append(r)
        hit, capped = set(), set()
        con = self.con
        for multi, rules in groups.items():
            rows, was_capped = _rows(flat, self.columns, set(multi))
            con.execute(f"DELETE FROM {TABLE}")
            con.executemany(self._insert, [(*row, text) for row in rows])
            for r in rules:
                if was_capped:
                    capped.add(r.id)
                if any(con.execute(q).fetchone() for q in r.queries):
                    hit.add(r.id)
        return hit, capped


def _rows(flat: dict[str, list], cols: list[str], multi: set[str]) -> tuple[list[tuple], bool]:
    choices = []
    for c in cols:
        vals = [sql_value(v) for v in flat.get(c, [None])] or [None]
        choices.append(list(dict.fromkeys(vals)) if c in multi else vals[:1])
    rows = list(itertools.islice(itertools.product(*choices), MAX_ROWS + 1))
    return rows[:MAX_ROWS], len(rows) > MAX_ROWS


def multi_valued(record: Any, names: list[str]) -> list[str]:
    flat = flatten(record)
    return [n for n in names if len(flat.get(n, ())) > 1]
