"""Coverage of the MITRE ATT&CK cloud matrix (IaaS) by warden's Sigma rules, per tactic.

    PYTHONPATH=. python -m bench.audit.attack_coverage [--sigmahq ../shared/data/sigma] [--provider aws] [--json]

A technique counts as covered when a rule routed to the provider's audit logs carries its tag
(`attack.t1098`, or one of its sub-techniques `attack.t1098.001`). The matrix below lists the techniques
ATT&CK assigns to the IaaS platform (Enterprise ATT&CK v15, cloud matrix), each under every tactic it
belongs to; techniques that only apply to SaaS/Office/identity-provider platforms are not listed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

IAAS: dict[str, dict[str, str]] = {
    "initial-access": {"T1078": "Valid Accounts", "T1190": "Exploit Public-Facing Application",
                       "T1199": "Trusted Relationship", "T1133": "External Remote Services"},
    "execution": {"T1651": "Cloud Administration Command", "T1648": "Serverless Execution",
                  "T1204": "User Execution (malicious image)", "T1059": "Command and Scripting Interpreter (cloud API)",
                  "T1609": "Container Administration Command", "T1610": "Deploy Container"},
    "persistence": {"T1098": "Account Manipulation", "T1136": "Create Account", "T1078": "Valid Accounts",
                    "T1525": "Implant Internal Image", "T1556": "Modify Authentication Process",
                    "T1546": "Event Triggered Execution", "T1053": "Scheduled Task/Job (container orchestration job)"},
    "privilege-escalation": {"T1098": "Account Manipulation", "T1078": "Valid Accounts",
                             "T1484": "Domain or Tenant Policy Modification (trust)",
                             "T1548": "Abuse Elevation Control Mechanism (temporary elevated cloud access)",
                             "T1611": "Escape to Host", "T1068": "Exploitation for Privilege Escalation"},
    "defense-evasion": {"T1562": "Impair Defenses (cloud logs, firewall, tools)", "T1578": "Modify Cloud Compute Infrastructure",
                        "T1535": "Unused/Unsupported Cloud Regions", "T1550": "Use Alternate Authentication Material",
                        "T1078": "Valid Accounts", "T1666": "Modify Cloud Resource Hierarchy",
                        "T1484": "Domain or Tenant Policy Modification", "T1036": "Masquerading"},
    "credential-access": {"T1552": "Unsecured Credentials (instance metadata, files, container API)",
                          "T1555": "Credentials from Password Stores (cloud secrets managers)", "T1110": "Brute Force",
                          "T1528": "Steal Application Access Token", "T1606": "Forge Web Credentials",
                          "T1621": "Multi-Factor Authentication Request Generation",
                          "T1649": "Steal or Forge Authentication Certificates"},
    "discovery": {"T1580": "Cloud Infrastructure Discovery", "T1526": "Cloud Service Discovery",
                  "T1538": "Cloud Service Dashboard", "T1619": "Cloud Storage Object Discovery",
                  "T1069": "Permission Groups Discovery", "T1087": "Account Discovery",
                  "T1201": "Password Policy Discovery", "T1046": "Network Service Discovery",
                  "T1613": "Container and Resource Discovery", "T1654": "Log Enumeration"},
    "lateral-movement": {"T1021": "Remote Services (cloud services, direct VM connections)",
                         "T1550": "Use Alternate Authentication Material"},
    "collection": {"T1530": "Data from Cloud Storage", "T1119": "Automated Collection", "T1074": "Data Staged"},
    "exfiltration": {"T1537": "Transfer Data to Cloud Account", "T1567": "Exfiltration Over Web Service",
                     "T1041": "Exfiltration Over C2 Channel"},
    "impact": {"T1485": "Data Destruction", "T1486": "Data Encrypted for Impact", "T1490": "Inhibit System Recovery",
               "T1496": "Resource Hijacking", "T1531": "Account Access Removal", "T1499": "Endpoint Denial of Service",
               "T1657": "Financial Theft"},
}
SOURCES = {"aws": "aws/cloudtrail", "kubernetes": "kubernetes/audit", "gcp": "gcp/gcp.audit"}


def covered(rule_paths: list[Path], provider: str | None) -> dict[str, list[str]]:
    """Technique id (upper case, parent level) -> titles of the rules tagged with it."""
    from detectors.sigma.engine import SigmaEngine
    eng = SigmaEngine().load_paths(rule_paths)
    out: dict[str, list[str]] = {}
    items = [(r.tags, r.sources, r.title) for r in eng.rules if r.generate or not r.consumers]
    items += [(c.tags, frozenset().union(*(eng._by_id[k].sources for k in c.rules)), c.title) for c in eng.correlations]
    for tags, sources, title in items:
        if provider and SOURCES[provider] not in sources:
            continue
        for t in tags:
            if t.startswith("attack.t"):
                out.setdefault(t.split(".")[1].upper(), []).append(title)
    return out


def table(cov: dict[str, list[str]]) -> list[dict]:
    rows = []
    for tactic, techs in IAAS.items():
        hit = {t: sorted(set(cov[t])) for t in techs if t in cov}
        rows.append({"tactic": tactic, "techniques": len(techs), "covered": len(hit),
                     "rules": sum(len(v) for v in hit.values()),
                     "missing": [f"{t} {n}" for t, n in techs.items() if t not in hit]})
    return rows


def main(argv: list[str] | None = None) -> int:
    from detectors.sigma.detector import BUILTIN_RULES
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rules", type=Path, default=BUILTIN_RULES, help="warden's rules (default: rules/sigma)")
    ap.add_argument("--sigmahq", type=Path, default=None, help="also count the SigmaHQ rules in this folder")
    ap.add_argument("--provider", choices=sorted(SOURCES), default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    paths = [a.rules] + ([a.sigmahq] if a.sigmahq else [])
    rows = table(covered(paths, a.provider))
    if a.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'tactic':<22} {'covered':>9} {'rules':>6}  missing")
    for r in rows:
        print(f"{r['tactic']:<22} {r['covered']:>3}/{r['techniques']:<5} {r['rules']:>6}  {', '.join(r['missing']) or '-'}")
    tot = sum(r["covered"] for r in rows), sum(r["techniques"] for r in rows)
    print(f"{'all tactics':<22} {tot[0]:>3}/{tot[1]:<5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
