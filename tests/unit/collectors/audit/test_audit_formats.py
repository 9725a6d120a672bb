"""Audit formats: cloudtrail, k8s-audit, gcp-audit normalisation, detection, bad input, webhook."""
from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.http import Request
from collectors.audit.webhook import K8sAuditWebhook
from collectors.base import ListEmitter
from collectors.formats import FormatError, all_formats, parse_record

CT = {"eventVersion": "1.08", "eventTime": "2026-01-05T10:00:00Z", "eventSource": "iam.amazonaws.com",
      "eventName": "CreateAccessKey", "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.7",
      "userAgent": "aws-cli/2.15.0", "errorCode": "AccessDenied", "recipientAccountId": "111122223333",
      "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "userName": "alice",
                       "principalId": "AIDA1", "accountId": "111122223333", "accessKeyId": "AKIA1"},
      "requestParameters": {"userName": "bob"}}
K8S = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "a1", "verb": "create",
       "user": {"username": "eve@example.com", "groups": ["system:authenticated"]}, "sourceIPs": ["203.0.113.9"],
       "userAgent": "kubectl/v1.29", "requestURI": "/api/v1/namespaces/ml/pods/trainer-0/exec",
       "objectRef": {"resource": "pods", "namespace": "ml", "name": "trainer-0", "subresource": "exec", "apiVersion": "v1"},
       "responseStatus": {"code": 101}, "stageTimestamp": "2026-01-05T10:00:01.5Z"}
GCP = {"insertId": "i1", "logName": "projects/p1/logs/cloudaudit.googleapis.com%2Factivity",
       "timestamp": "2026-01-05T10:00:00.123456789Z", "resource": {"type": "gcs_bucket", "labels": {"project_id": "p1", "location": "us"}},
       "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "serviceName": "storage.googleapis.com",
                        "methodName": "storage.setIamPermissions", "resourceName": "projects/_/buckets/models",
                        "authenticationInfo": {"principalEmail": "bob@example.com"},
                        "authorizationInfo": [{"permission": "storage.buckets.setIamPolicy", "granted": True}],
                        "requestMetadata": {"callerIp": "198.51.100.8", "callerSuppliedUserAgent": "gcloud/460"}}}


def one(rec, fmt):
    evs = parse_record(rec, fmt, "test/src")
    assert len(evs) == 1
    return evs[0]


def test_formats_registered():
    assert {"cloudtrail", "k8s-audit", "gcp-audit"} <= set(all_formats())


def test_cloudtrail_record_ecs():
    e = one(CT, "cloudtrail")
    a = e.attributes
    assert (e.kind, e.entity, e.name) == ("audit", "arn:aws:iam::111122223333:user/alice", "CreateAccessKey")
    assert e.time == 1767607200.0
    assert a["raw"] is CT and a["event.action"] == "CreateAccessKey" and a["event.provider"] == "iam.amazonaws.com"
    assert a["event.outcome"] == "failure" and a["error.code"] == "AccessDenied"
    assert a["user.name"] == "alice" and a["source.ip"] == "198.51.100.7" and a["user_agent.original"] == "aws-cli/2.15.0"
    assert a["cloud.provider"] == "aws" and a["cloud.account.id"] == "111122223333" and a["cloud.region"] == "us-east-1"
    assert a["audit.logsource"] == "aws/cloudtrail"


def test_cloudtrail_ids_stable_and_distinct():
    assert one(CT, "cloudtrail").id == one(copy.deepcopy(CT), "cloudtrail").id
    other = dict(CT, eventID="x")
    assert one(other, "cloudtrail").id != one(CT, "cloudtrail").id


def test_cloudtrail_file_eventbridge_lake_and_lowercase_keys():
    evs = parse_record({"Records": [CT, dict(CT, eventName="GetUser")]}, "cloudtrail", "t")
    assert [e.name for e in evs] == ["CreateAccessKey", "GetUser"]
    eb = {"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "time": "2026-01-05T10:00:00Z", "detail": CT}
    e = one(eb, "cloudtrail")
    assert e.attributes["raw"] is eb and e.attributes["audit.record"] is CT and e.name == "CreateAccessKey"
    lake = {"eventData": orjson.dumps(CT).decode()}
    assert one(lake, "cloudtrail").name == "CreateAccessKey"
    row = {"eventJson": orjson.dumps(CT).decode()}
    assert one(row, "auto").name == "CreateAccessKey"
    low = {k.lower() if k in ("eventName", "eventSource", "awsRegion", "eventTime") else k: v for k, v in CT.items()}
    e = one(low, "cloudtrail")
    assert e.name == "CreateAccessKey" and e.attributes["audit.record"]["eventSource"] == "iam.amazonaws.com"
    assert e.attributes["raw"] is low


def test_cloudtrail_console_login_failure_is_failure():
    rec = dict(CT, eventName="ConsoleLogin", responseElements={"ConsoleLogin": "Failure"})
    rec.pop("errorCode")
    assert one(rec, "cloudtrail").attributes["event.outcome"] == "failure"


def test_cloudtrail_bad_input():
    with pytest.raises(FormatError, match="no eventName"):
        parse_record({"eventSource": "x", "eventName": 3}, "cloudtrail", "t")
    with pytest.raises(FormatError, match="Records"):
        parse_record({"Records": "nope"}, "cloudtrail", "t")
    with pytest.raises(FormatError, match="expected a JSON object"):
        parse_record([1, 2], "cloudtrail", "t")
    # missing optional fields normalise as far as possible
    e = one({"eventName": "GetUser", "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1"}, "cloudtrail")
    assert e.entity == "unknown" and e.attributes["warden.time_source"] == "observed"


@pytest.mark.parametrize("fmt,action_only,context", [
    ("cloudtrail", {"eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com"},
     {"sourceIPAddress": "198.51.100.7"}),
    ("k8s-audit", {"verb": "create", "stage": "ResponseComplete"}, {"objectRef": {"resource": "pods"}}),
    ("gcp-audit", {"methodName": "v1.compute.firewalls.patch", "serviceName": "compute.googleapis.com"},
     {"authenticationInfo": {"principalEmail": "a@example.com"}}),
])
def test_a_record_naming_only_its_action_is_refused_with_the_reason(fmt, action_only, context):
    with pytest.raises(FormatError, match="names only an action .* nothing to attribute it to"):
        parse_record(action_only, fmt, "t")
    assert one({**action_only, **context}, fmt).name == next(iter(action_only.values()))


def test_k8s_event_and_eventlist_and_aks():
    e = one(K8S, "k8s-audit")
    a = e.attributes
    assert (e.entity, e.name) == ("eve@example.com", "create")
    assert a["orchestrator.namespace"] == "ml" and a["orchestrator.resource.type"] == "pods"
    assert a["orchestrator.resource.name"] == "trainer-0" and a["orchestrator.resource.subresource"] == "exec"
    assert a["source.ip"] == "203.0.113.9" and a["event.outcome"] == "success" and a["audit.logsource"] == "kubernetes/audit"
    lst = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [K8S, dict(K8S, verb="get", auditID="a2")]}
    assert [x.name for x in parse_record(lst, "k8s-audit", "t")] == ["create", "get"]
    aks = {"category": "kube-audit", "operationName": "x", "properties": {"log": orjson.dumps(K8S).decode()}}
    e = one(aks, "auto")
    assert e.attributes["audit.format"] == "k8s-audit" and e.attributes["raw"] is aks and e.name == "create"


def test_k8s_bad_input():
    with pytest.raises(FormatError):
        parse_record({"kind": "EventList", "items": 5}, "k8s-audit", "t")
    with pytest.raises(FormatError):
        parse_record({"hello": "world"}, "k8s-audit", "t")
    with pytest.raises(FormatError, match="verb"):
        parse_record(dict(K8S, verb=5), "k8s-audit", "t")


def test_gcp_entry_and_gke_view():
    e = one(GCP, "gcp-audit")
    a = e.attributes
    assert (e.entity, e.name) == ("bob@example.com", "storage.setIamPermissions")
    assert a["gcp.audit.method_name"] == "storage.setIamPermissions" and a["cloud.provider"] == "gcp"
    assert a["cloud.project.id"] == "p1" and a["source.ip"] == "198.51.100.8" and a["event.outcome"] == "success"
    gke = copy.deepcopy(GCP)
    gke["protoPayload"].update(serviceName="k8s.io", methodName="io.k8s.core.v1.pods.exec.create",
                               resourceName="core/v1/namespaces/ml/pods/trainer-0/exec")
    e = one(gke, "gcp-audit")
    view = e.attributes["audit.k8s"]
    assert view["verb"] == "create" and view["objectRef"] == {"resource": "pods", "subresource": "exec", "apiGroup": "",
                                                              "apiVersion": "v1", "namespace": "ml", "name": "trainer-0"}
    assert e.attributes["orchestrator.namespace"] == "ml"


def test_gcp_denied_lowercase_and_bare_payload():
    g = copy.deepcopy(GCP)
    g["protoPayload"]["authorizationInfo"][0]["granted"] = False
    assert one(g, "gcp-audit").attributes["event.outcome"] == "failure"
    low = {"protopayload": GCP["protoPayload"], "insertid": "z"}
    assert one(low, "gcp-audit").name == "storage.setIamPermissions"
    bare = {"methodName": "v1.compute.firewalls.patch", "serviceName": "compute.googleapis.com",
            "authenticationInfo": {"principalEmail": "a@example.com"}}
    assert one(bare, "auto").name == "v1.compute.firewalls.patch"
    with pytest.raises(FormatError, match="protoPayload"):
        parse_record({"protoPayload": "x", "logName": "cloudaudit.googleapis.com"}, "gcp-audit", "t")


def test_auto_detection_routes_each_shape():
    assert one(CT, "auto").attributes["audit.format"] == "cloudtrail"
    assert one(K8S, "auto").attributes["audit.format"] == "k8s-audit"
    assert one(GCP, "auto").attributes["audit.format"] == "gcp-audit"


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                     lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)


@settings(max_examples=80, deadline=None)
@given(rec=st.dictionaries(st.sampled_from(["eventName", "eventSource", "userIdentity", "eventTime", "Records", "detail",
                                            "verb", "objectRef", "user", "items", "kind", "protoPayload", "methodName",
                                            "requestParameters", "sourceIPs", "timestamp"]), _json, max_size=6),
       fmt=st.sampled_from(["cloudtrail", "k8s-audit", "gcp-audit", "auto"]))
def test_fuzz_never_crashes(rec, fmt):
    try:
        evs = parse_record(rec, fmt, "t")
    except FormatError as e:
        assert str(e)
        return
    for ev in evs:
        assert ev.kind == "audit" and ev.entity and isinstance(ev.time, float)


def test_webhook_posts_eventlist():
    c = K8sAuditWebhook("hook")
    em = ListEmitter()
    c.bind(em)
    (method, path), handler = next(iter(c.routes().items()))
    assert (method, path) == ("POST", "/v1/audit/k8s")
    body = {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [K8S, dict(K8S, verb=7), "junk"]}
    resp = handler(Request("POST", path, {}, {}, orjson.dumps(body)))
    answer = orjson.loads(resp.body)
    assert resp.status == 200 and (answer["accepted"], answer["dead_lettered"]) == (1, 2)
    assert [r["record"] for r in answer["reasons"]] == ["[1]", "[2]"]
    assert len(em.events) == 1 and em.events[0].source == "k8s_audit_webhook/hook"
    assert len(em.dead) == 2 and all(reason for _, reason, _ in em.dead)
    for bad in (b"not json", orjson.dumps({"kind": "EventList", "items": 3})):
        resp = handler(Request("POST", path, {}, {}, bad))
        assert resp.status == 400 and orjson.loads(resp.body)["dead_lettered"] == 1
    assert len(em.dead) == 4


def test_webhook_registered():
    from core.registry import get
    assert get("collector", "k8s_audit_webhook") is K8sAuditWebhook


def test_webhook_through_http_server():
    import urllib.request
    from agent.http.server import HttpServer
    c = K8sAuditWebhook("live")
    em = ListEmitter()
    c.bind(em)
    srv = HttpServer("127.0.0.1", 0)
    srv.add_routes(c.routes())
    srv.start()
    try:
        host, port = srv.address
        body = orjson.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [K8S]})
        req = urllib.request.Request(f"http://{host}:{port}/v1/audit/k8s", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            answer = orjson.loads(r.read())
            assert r.status == 200 and (answer["accepted"], answer["dead_lettered"]) == (1, 0)
    finally:
        srv.close()
    assert [e.name for e in em.events] == ["create"]


def test_gcp_failure_signals():
    g = copy.deepcopy(GCP)
    g["protoPayload"]["authorizationInfo"][0]["granted"] = "nope"          # only an explicit true grants
    assert one(g, "gcp-audit").attributes["event.outcome"] == "failure"
    gke = copy.deepcopy(GCP)
    gke["protoPayload"].update(serviceName="k8s.io", methodName="io.k8s.core.v1.pods.create",
                               resourceName="core/v1/namespaces/a/pods/p", response={"status": "Failure", "code": 409})
    e = one(gke, "gcp-audit")
    assert e.attributes["event.outcome"] == "failure" and e.attributes["audit.k8s"]["responseStatus"] == {"code": 409}


def test_gcp_projects_and_domain_for_field_references():
    rec = {"protoPayload": {"methodName": "storage.objects.get", "serviceName": "storage.googleapis.com",
                            "authenticationInfo": {"principalEmail": "Bob@Example.com"},
                            "resourceName": "projects/_/buckets/b/objects/o",
                            "metadata": {"destination": "projects/other-proj/buckets/d/objects/o"}},
           "resource": {"labels": {"project_id": "home-proj"}}}
    a = one(rec, "gcp-audit").attributes
    assert a["user.domain"] == "example.com" and a["cloud.project.id"] == "home-proj"
    assert "gcp.audit.request_member_domain" not in a
    assert a["gcp.audit.destination_project"] == "other-proj"
    assert "gcp.audit.resource_project" not in a          # "_": Cloud Storage's global namespace
    rec["protoPayload"]["resourceName"] = "//cloudkms.googleapis.com/projects/keys-proj/locations/us/keyRings/r"
    rec["protoPayload"]["metadata"] = {"destination": "projects/123456/buckets/d"}   # a number: not comparable
    a = one(rec, "gcp-audit").attributes
    assert a["gcp.audit.resource_project"] == "keys-proj" and "gcp.audit.destination_project" not in a


def test_cloudtrail_target_account_prefers_a_foreign_account():
    rec = {"eventName": "CopyObject", "eventSource": "s3.amazonaws.com", "eventTime": "2026-01-01T00:00:00Z",
           "userIdentity": {"type": "IAMUser", "userName": "x", "accountId": "111122223333"},
           "requestParameters": {"x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:999999999999:key/k"},
           "resources": [{"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/o"},
                         {"type": "AWS::S3::Bucket", "accountId": "111122223333", "ARN": "arn:aws:s3:::b"}]}
    a = one(rec, "cloudtrail").attributes
    assert a["cloud.account.id"] == "111122223333" and a["cloud.target.account.id"] == "999999999999"
    rec["requestParameters"] = {}
    assert one(rec, "cloudtrail").attributes["cloud.target.account.id"] == "111122223333"   # only its own
    del rec["resources"]
    assert "cloud.target.account.id" not in one(rec, "cloudtrail").attributes


def test_gcp_request_member_domain():
    rec = {"protoPayload": {"methodName": "InsertProjectOwnershipInvite", "authenticationInfo": {"principalEmail": "a@example.com"},
                            "request": {"member": "user:Mallory@NotExample.com"}}}
    assert one(rec, "gcp-audit").attributes["gcp.audit.request_member_domain"] == "notexample.com"


def test_gcp_method_from_service_metadata_when_the_payload_has_none():
    rec = {"protoPayload": {"serviceName": "bigquery.googleapis.com", "authenticationInfo": {"principalEmail": "a@example.com"},
                            "metadata": {"methodName": "google.cloud.bigquery.v2.JobService.InsertJob"}},
           "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity"}
    e = one(rec, "gcp-audit")
    assert e.name == "google.cloud.bigquery.v2.JobService.InsertJob" == e.attributes["event.action"]
