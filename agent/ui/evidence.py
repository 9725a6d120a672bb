"""An alert's evidence for people: plain sentences, the audit event with the fields the rule
matched, ATT&CK / ATLAS links for tags, and the prompt excerpt with redaction.

Everything returned is plain text or data; the templates escape it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.event import Alert
from agent.ui.render import fmt_num

REDACT_MODES = ("none", "secrets", "full")
_SECRETS = [re.compile(p) for p in (
    r"[\w.+-]+@[\w-]+\.[\w.-]+",                       # e-mail addresses
    r"\b(?:sk|pk|rk|ghp|gho|xox[abpr])[-_][A-Za-z0-9_-]{8,}",   # API keys with a known prefix
    r"\bAKIA[0-9A-Z]{16}\b",                           # AWS access key ids
    r"\b[A-Za-z0-9+/_-]{32,}={0,2}",                   # long tokens (base64 / hex)
    r"\b\d(?:[ -]?\d){8,}\b",                          # long digit runs (cards, phone numbers)
)]
TACTICS = {"reconnaissance": "TA0043", "resource-development": "TA0042", "initial-access": "TA0001",
           "execution": "TA0002", "persistence": "TA0003", "privilege-escalation": "TA0004",
           "defense-evasion": "TA0005", "credential-access": "TA0006", "discovery": "TA0007",
           "lateral-movement": "TA0008", "collection": "TA0009", "command-and-control": "TA0011",
           "exfiltration": "TA0010", "impact": "TA0040"}
_ATTACK_T = re.compile(r"^attack\.t(\d{4})(?:\.(\d{3}))?$", re.I)
_ATLAS_T = re.compile(r"^atlas[.:]aml\.t(\d{4})(?:\.(\d{3}))?$", re.I)


@dataclass
class Tag:
    text: str
    url: str = ""


@dataclass
class Field:
    name: str
    value: str
    matched: bool


def tag_link(tag: str) -> Tag:
    m = _ATTACK_T.match(tag)
    if m:
        return Tag(tag, f"https://attack.mitre.org/techniques/T{m.group(1)}/" + (f"{m.group(2)}/" if m.group(2) else ""))
    m = _ATLAS_T.match(tag)
    if m:
        return Tag(tag, f"https://atlas.mitre.org/techniques/AML.T{m.group(1)}" + (f".{m.group(2)}" if m.group(2) else ""))
    tactic = tag.lower().removeprefix("attack.").replace("_", "-")
    if tag.lower().startswith("attack.") and tactic in TACTICS:
        return Tag(tag, f"https://attack.mitre.org/tactics/{TACTICS[tactic]}/")
    return Tag(tag)


def redact(text: str, mode: str) -> str:
    if mode == "none":
        return text
    if mode == "full":
        return f"[prompt hidden: {len(text)} characters; ui redaction is 'full']"
    for rx in _SECRETS:
        text = rx.sub("[redacted]", text)
    return text


def audit_fields(evidence: dict[str, Any]) -> list[Field]:
    """The event behind an audit alert, then the matched fields it did not show; matched ones marked."""
    matched = evidence.get("matched") if isinstance(evidence.get("matched"), dict) else {}
    event = evidence.get("event") if isinstance(evidence.get("event"), dict) else {}
    values = {str(v) for v in matched.values()}
    out = [Field(str(k), _text(v), str(k) in matched or _text(v) in values) for k, v in event.items()]
    shown = {f.name for f in out}
    out += [Field(str(k), _text(v), True) for k, v in matched.items() if str(k) not in shown]
    return out


def plain_words(a: Alert, redaction: str = "secrets") -> list[str]:
    """What happened, in sentences."""
    e = a.evidence or {}
    out: list[str] = []
    if isinstance(e.get("rule"), dict):
        r = e["rule"]
        fields = ", ".join(f"{k} = {_text(v)}" for k, v in (e.get("matched") or {}).items())
        out.append(f"Sigma rule \u201c{r.get('title', a.rule)}\u201d ({r.get('level', a.severity)}) matched an audit "
                   f"event of {a.entity}" + (f" on {fields}." if fields else "."))
        ev = e.get("event") or {}
        if ev:
            out.append(f"{ev.get('principal', a.entity)} did {ev.get('action', '?')} from "
                       f"{ev.get('source.ip', 'an unknown address')}"
                       + (f" in account {ev['cloud.account.id']}" if ev.get("cloud.account.id") else "") + ".")
    if "decision" in e and "score" in e:
        out.append(f"The prompt guard scored a prompt to model {e.get('model', a.entity)} at {fmt_num(e.get('score'))} "
                   f"and decided to {e.get('decision')}: {e.get('reason', '')}.")
        who = [f"{k} {e[k]}" for k in ("client.id", "api_key.id") if e.get(k)]
        if who:
            out.append("It came from " + " with ".join(who) + ".")
    if "metric" in e and "value" in e:
        base = e.get("baseline")
        s = f"{e['metric']} on {a.entity} was {fmt_num(e['value'])}"
        if base is not None:
            s += f", against an expected {fmt_num(base)}"
        if e.get("zscore") is not None:
            s += f": {abs(float(e['zscore'])):.1f} typical deviations {e.get('direction', '')}"
        out.append(s + ".")
        ch = e.get("chart") or {}
        if ch.get("points"):
            k = ch.get("threshold_k")
            out.append(f"{ch.get('crossings', 0)} of the last {len(ch['points'])} points crossed the threshold"
                       + (f" ({fmt_num(k)} deviations from the baseline)." if k else "."))
    if not out:
        out.append(a.description or a.title)
    out.append(f"{a.count} finding(s) from {a.detector or 'a detector'} between the first and last seen times.")
    return out


def prompt_view(e: dict[str, Any], redaction: str, blocked: str = "") -> dict[str, Any] | None:
    """The prompt of a guard alert: excerpt (redacted), score, decision and the key that is (or in
    dry-run would be) blocked: the block list's target, else the request's API key or client."""
    if "prompt.excerpt" not in e:
        return None
    return {"excerpt": redact(str(e.get("prompt.excerpt") or ""), redaction), "length": e.get("prompt.length"),
            "score": e.get("score"), "decision": e.get("decision"), "redaction": redaction,
            "key": blocked or e.get("api_key.id") or e.get("client.id") or ""}


def _text(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(_text(x) for x in v)
    return "" if v is None else str(v)
