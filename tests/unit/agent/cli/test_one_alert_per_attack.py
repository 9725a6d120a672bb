"""A recorded CloudTrail attack — a user created and given administrator rights, then a key for it —
replayed with no config opens one alert, whose `explain` lists every rule that matched."""
from __future__ import annotations

import orjson

from tests.unit.agent.lifecycle.cli_fixture import invoke

ADMIN = "arn:aws:iam::123456789012:user/mallory"


def record(i: int, name: str, params: dict) -> dict:
    return {"eventVersion": "1.08", "eventTime": f"2026-11-20T10:0{i}:00Z", "eventName": name,
            "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7",
            "recipientAccountId": "123456789012", "userAgent": "aws-cli/2.15.0", "eventID": f"e-{i}",
            "userIdentity": {"type": "IAMUser", "userName": "mallory", "arn": ADMIN, "accountId": "123456789012",
                             "accessKeyId": "AKIAMALLORY000000001"},
            "requestParameters": params, "responseElements": None}


def test_a_user_created_and_made_admin_is_one_alert_listing_every_rule(tmp_path):
    trail = {"Records": [
        record(1, "CreateUser", {"userName": "evil"}),
        record(2, "AttachUserPolicy", {"userName": "evil", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        record(3, "CreateLoginProfile", {"userName": "evil"}),
    ]}
    path = tmp_path / "trail.json"
    path.write_bytes(orjson.dumps(trail))
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\n")
    r = invoke(str(conf), "replay", str(path), "--format", "cloudtrail", "--json")
    assert r.exit_code == 0, r.output
    alerts = orjson.loads(invoke(str(conf), "alerts", "list", "--json").output)
    assert len(alerts) == 1, [(a["entity"], a["title"]) for a in alerts]
    out = orjson.loads(invoke(str(conf), "alerts", "explain", alerts[0]["id"][:12], "--json").output)
    titles = " | ".join(out["rules"])
    assert len(out["rules"]) >= 2, titles
    assert "IAM Principal Or Credential Created" in titles and "IAM Permission Escalation" in titles
    # title and headline evidence describe the same finding
    assert out["alert"]["evidence"]["rule"]["title"].lower() in out["alert"]["title"].lower()
