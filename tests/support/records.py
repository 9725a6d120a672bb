"""Sample input records of each audit source, numbered so each is distinct (tests)."""
from __future__ import annotations

from typing import Any


def cloudtrail(i: int, name: str = "GetObject") -> dict[str, Any]:
    return {"eventVersion": "1.09", "eventTime": f"2026-01-05T00:01:{i % 60:02d}Z", "eventSource": "s3.amazonaws.com",
            "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": f"198.51.100.{i % 250}",
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::123456789012:user/u{i}",
                             "accountId": "123456789012", "userName": f"u{i}"},
            "requestParameters": {"bucketName": "acme-datasets", "key": f"k{i}"},
            "eventID": f"8f4a1c2e-0000-4000-a000-{i:012d}", "recipientAccountId": "123456789012"}


def k8s(i: int) -> dict[str, Any]:
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": f"a{i}", "verb": "get",
            "user": {"username": f"user{i}@example.com"}, "sourceIPs": [f"203.0.113.{i % 250}"],
            "requestURI": f"/api/v1/namespaces/ml/pods/p{i}",
            "objectRef": {"resource": "pods", "namespace": "ml", "name": f"p{i}", "apiVersion": "v1"},
            "stageTimestamp": f"2026-01-05T10:00:{i % 60:02d}Z"}


def gcp(i: int) -> dict[str, Any]:
    return {"insertId": f"i{i}", "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Factivity",
            "timestamp": f"2026-01-05T10:00:{i % 60:02d}Z",
            "resource": {"type": "gcs_bucket", "labels": {"project_id": "p1"}},
            "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                             "serviceName": "storage.googleapis.com", "methodName": "storage.objects.get",
                             "resourceName": f"projects/_/buckets/models/objects/o{i}",
                             "authenticationInfo": {"principalEmail": f"bob{i}@example.com"},
                             "requestMetadata": {"callerIp": "198.51.100.8"}}}


def deep(levels: int) -> bytes:
    """A CloudTrail record whose request parameters nest `levels` objects deep (valid JSON)."""
    head = (b'{"eventName":"GetObject","eventSource":"s3.amazonaws.com","userIdentity":{"arn":"a"},'
            b'"eventTime":"2026-01-05T00:00:00Z","requestParameters":')
    return head + b'{"a":' * levels + b"1" + b"}" * levels + b"}"


#: (name, container document, format, good records, index of the one bad record)
CONTAINERS = [
    ("cloudtrail log file",
     {"Records": [cloudtrail(i) for i in range(7)] + [{"eventName": "OnlyAction"}]
      + [cloudtrail(i) for i in range(7, 20)]}, "cloudtrail", 20, 7),
    ("kubernetes EventList",
     {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [k8s(i) for i in range(5)] + [dict(k8s(9), verb=7)]},
     "k8s-audit", 5, 5),
    ("gcp entries.list answer", {"entries": [gcp(0), "junk"] + [gcp(i) for i in range(1, 6)]}, "gcp-audit", 6, 1),
    ("json array", [cloudtrail(i) for i in range(3)] + [{"what": "is this"}], "auto", 3, 3),
]
