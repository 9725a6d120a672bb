"""The access-key correlation names one key: its id and its IAM user together (a key belongs to one user)."""
from __future__ import annotations

from collectors.formats import parse_record
from detectors.sigma.detector import BUILTIN_RULES
from detectors.sigma.engine import SigmaEngine

RULE = "079516f2-0980-53eb-90ca-a875bb5a09f4"
KEY = "AKIAIOSFODNN7EXAMPLE"


def call(user: str, ip: str, minute: int, name: str = "ListBuckets", key: str = KEY, response=None) -> dict:
    rec = {"eventVersion": "1.08", "eventTime": f"2026-01-05T10:{minute:02d}:00Z", "eventSource": "s3.amazonaws.com",
           "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": "aws-cli/2.15",
           "eventID": f"{user}-{name}-{minute}", "recipientAccountId": "111122223333",
           "userIdentity": {"type": "IAMUser", "userName": user, "accessKeyId": key,
                            "arn": f"arn:aws:iam::111122223333:user/{user}", "accountId": "111122223333"}}
    if response is not None:
        rec.update(eventSource="iam.amazonaws.com", responseElements=response)
    return rec


def fired(*records: dict) -> list[str]:
    eng = SigmaEngine(min_level="medium").load_paths([BUILTIN_RULES])
    events = [e for r in records for e in parse_record(r, "cloudtrail", "t")]
    return [f.rule for f in eng.process(events) if f.rule == RULE]


def test_a_key_created_for_a_user_then_used_by_that_user_elsewhere_fires():
    created = call("admin", "198.51.100.7", 0, "CreateAccessKey", key="AKIAADMINKEY00000001",
                   response={"accessKey": {"accessKeyId": "AKIABACKDOOR00000001", "userName": "svc-backup",
                                           "status": "Active"}})
    used = call("svc-backup", "203.0.113.99", 5, key="AKIABACKDOOR00000001")
    assert fired(created, used) == [RULE]


def test_one_users_key_from_two_addresses_fires_and_one_key_id_of_two_users_does_not():
    assert fired(call("alice", "198.51.100.7", 0), call("alice", "203.0.113.99", 5)) == [RULE]
    assert fired(call("alice", "198.51.100.7", 0), call("bob", "203.0.113.99", 5)) == []


def test_one_key_used_from_two_hosts_of_the_own_network_does_not_fire():
    assert fired(call("alice", "10.0.1.100", 0), call("alice", "10.0.2.100", 5)) == []
    assert fired(call("alice", "10.0.1.100", 0), call("alice", "203.0.113.99", 5),
                 call("alice", "198.51.100.7", 9)) == [RULE]
