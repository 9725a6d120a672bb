"""`warden config check`: every error of a config file and its policy files, each with its path
(`bus.partitions`, `detectors.baseline/x.threshold`, `policies.yaml: policies[3] (id).routes[0]`),
not only the first. Each section, component, policy and route is checked on its own, so one
error does not hide the next. Nothing is started.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from core import registry
from core.errors import ConfigError, WardenError
from core.sqlite import check_folder, check_sqlite_path


def _collect(errors: list[str], fn: Callable[[], Any], where: str = "") -> Any:
    """fn()'s result, or None with its error appended (prefixed with `where` unless it names it)."""
    try:
        return fn()
    except (WardenError, ValueError, TypeError) as e:    # WardenError, or a component's own validation
        msg = str(e)
        if where and not msg.startswith((f"{where}:", f"{where}.")):
            section, _, name = where.partition(".")
            msg = f"{section}.{msg}" if name and msg.startswith(name) else f"{where}: {msg}"
        errors.append(msg)
    return None


def check_config(path: str | None) -> tuple[list[str], dict[str, int]]:
    """(errors, what was checked: counts) for a config file (None: defaults / $WARDEN_CONFIG)."""
    from agent.config import (_SECTIONS, DEFAULT_DETECTORS, SECTION_NAMES, config_dir, parse, read_config_file,
                              relative_to_config)
    errors: list[str] = []
    path = path or os.environ.get("WARDEN_CONFIG") or ("warden.yaml" if Path("warden.yaml").exists() else None)
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = relative_to_config(read_config_file(path), path)
        except ConfigError as e:
            return [str(e)], {}
    src = str(path or "<defaults>")
    known = SECTION_NAMES
    base = config_dir(path) if path is not None else None
    for k in sorted(set(raw) - known):
        errors.append(f"{src}: unknown section {k} (known: {', '.join(sorted(known))})")
    for name in (*_SECTIONS, "data_dir"):     # each section alone: one bad section does not hide another
        _collect(errors, lambda name=name: parse({name: raw.get(name)} if name in raw else {}, src))
    if not errors:      # the HTTP secure default: no unauthenticated server off loopback (agent.http.auth)
        sections = {k: raw[k] for k in _SECTIONS if k in raw}     # the other sections' errors are their own
        _collect(errors, lambda: _check_http(parse(sections, src)), "http")
        data = parse({k: raw[k] for k in ("store", "data_dir") if k in raw}, src)   # what `warden run` opens
        folder_ok = _collect(errors, lambda: check_folder(data.data_dir, "the folder") or True, "data_dir")
        if data.store.type == "sqlite" and (folder_ok or data.store.path):     # the folder's error once
            _collect(errors, lambda: check_sqlite_path(data.sqlite_path), "store.path")
    counts = {"components": 0, "policies": 0}
    for kind, section in (("collector", "collectors"), ("detector", "detectors"), ("responder", "responders")):
        entries = raw.get(section)
        if entries is None and section == "detectors":
            entries = DEFAULT_DETECTORS     # what runs without a detectors section is checked as well
        if entries is None:
            continue
        if not isinstance(entries, dict):
            errors.append(f"{src}: {section} must be a mapping of 'type/name' to options")
            continue
        for name, opts in entries.items():
            if opts is not None and not isinstance(opts, dict):
                errors.append(f"{src}: {section}.{name}: options must be a mapping")
                continue
            if _collect(errors, lambda k=kind, n=str(name), o=opts: registry.create(k, n, o or {}, base),
                        f"{section}.{name}") is not None:
                counts["components"] += 1
    paths = raw.get("policies")
    if paths is not None and not (isinstance(paths, list) and all(isinstance(p, str) for p in paths)):
        errors.append(f"{src}: policies must be a list of file paths")
        paths = None
    responders = raw.get("responders") if isinstance(raw.get("responders"), dict) else {}
    counts["policies"] = _check_policies(errors, paths or None, responders, base)
    return list(dict.fromkeys(errors)), counts     # an environment override fails every section: once


def _check_http(cfg) -> None:
    if cfg.http.enabled:
        from agent.http.server import HttpServer
        HttpServer.from_config(cfg.http).ssl_context()     # the TLS files are read when the server starts: now


def _check_policies(errors: list[str], paths, responders: dict, base: str | None) -> int:
    """Each policy and each of its routes on its own."""
    from policy.policies import PolicySet, _policy, policy_files, read_policy_file
    n = 0
    files = _collect(errors, lambda: policy_files(paths if isinstance(paths, list) else None)) or []
    for f in files:
        try:
            doc = read_policy_file(f)
        except ConfigError as e:
            errors.append(str(e))
            continue
        items = doc.get("policies") if isinstance(doc, dict) else None
        if not isinstance(items, list):
            errors.append(f"{f}: expected a top-level 'policies:' list")
            continue
        for i, item in enumerate(items):
            pol = _collect(errors, lambda item=item, i=i: _policy(item, f"{f}: policies[{i}]"))
            if pol is None:
                continue
            n += 1
            for j, route in enumerate(pol.routes):
                where = f"{pol.source}.routes[{j}]"
                r = _collect(errors, lambda route=route: registry.create(
                    "responder", route["responder"], responders.get(route["responder"]) or {}, base), where)
                if r is not None:
                    _collect(errors, lambda r=r, route=route, where=where: r.check_route(route.get("params") or {},
                                                                                          where))
    if not errors:      # file-level sections (inhibit rules, correlation, safety) and cross-file checks
        _collect(errors, lambda: PolicySet.load(paths if isinstance(paths, list) else None))
    return n
