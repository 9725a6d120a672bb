"""aws_iam responder against moto in server mode on 127.0.0.1 (real boto3 calls over HTTP):
deactivate an access key, deny-all inline policy, revoke a role's sessions — each with its undo;
and the whole path with dry-run off: finding → alert → real action → `warden actions undo`."""
from __future__ import annotations

import dataclasses
import json
import socket

import boto3
import orjson
import pytest
from click.testing import CliRunner

from core.event import Alert, Finding
from responders.aws import DENY_POLICY_NAME, REVOKE_POLICY_NAME, AwsIamResponder, parse_principal

ACCOUNT = "123456789012"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    import requests
    requests.post(f"{url}/moto-api/reset", timeout=10)      # moto backends are process-wide
    yield url
    server.stop()


@pytest.fixture
def aws_env(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def iam(moto_url, aws_env):
    return boto3.client("iam", region_name="us-east-1", endpoint_url=moto_url)


def _user_with_key(iam, name):
    iam.create_user(UserName=name)
    return iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]


def _key_status(iam, user, key):
    return {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}[key]


def _alert(entity, **labels):
    return Alert(id="b" * 32, rule="credential-abuse", title="console brute force", severity="high", entity=entity,
                 group_key="g", status="firing", first_seen=0.0, last_seen=0.0, labels=labels)


def _run(r, a, **params):
    [act] = r.plan(a, {"responder": r.name, "dry_run": False, "params": params})
    return act, r.execute(act, a)


def test_principal_parsing():
    assert parse_principal(f"arn:aws:iam::{ACCOUNT}:user/alice") == {"kind": "user", "name": "alice", "account": ACCOUNT,
                                                                    "arn": f"arn:aws:iam::{ACCOUNT}:user/alice"}
    p = parse_principal(f"arn:aws:sts::{ACCOUNT}:assumed-role/ml-training-role/i-0abc")
    assert p == {"kind": "role", "name": "ml-training-role", "account": ACCOUNT,
                 "arn": f"arn:aws:iam::{ACCOUNT}:role/ml-training-role"}
    assert parse_principal("alice") == {}


def test_deactivate_access_key_and_undo(moto_url, iam):
    key = _user_with_key(iam, "alice")
    other = iam.create_access_key(UserName="alice")["AccessKey"]["AccessKeyId"]
    r = AwsIamResponder("aws_iam/t", endpoint_url=moto_url)
    a = _alert(f"arn:aws:iam::{ACCOUNT}:user/alice", access_key_id=key)
    act, res = _run(r, a, operation="deactivate_access_key")
    assert act.target == f"iam:alice/{key}" and act.params["resource"]["account"] == ACCOUNT
    assert res == {"user": "alice", "deactivated": [key]}
    assert _key_status(iam, "alice", key) == "Inactive" and _key_status(iam, "alice", other) == "Active"
    assert r.revert(dataclasses.replace(act, status="done", result=res)) == {"reactivated": [key]}
    assert _key_status(iam, "alice", key) == "Active"


def test_deny_all_policy_on_user_and_revoke_role_sessions(moto_url, iam):
    iam.create_user(UserName="bob")
    iam.create_role(RoleName="ml-training-role", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    r = AwsIamResponder("aws_iam/t", endpoint_url=moto_url)
    bob = _alert(f"arn:aws:iam::{ACCOUNT}:user/bob")
    act, res = _run(r, bob, operation="attach_deny_policy")
    doc = iam.get_user_policy(UserName="bob", PolicyName=DENY_POLICY_NAME)["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    assert doc["Statement"][0]["Effect"] == "Deny" and doc["Statement"][0]["Action"] == "*"
    r.revert(dataclasses.replace(act, status="done", result=res))
    assert iam.list_user_policies(UserName="bob")["PolicyNames"] == []

    role = _alert(f"arn:aws:sts::{ACCOUNT}:assumed-role/ml-training-role/i-0abc")
    act, res = _run(r, role, operation="revoke_sessions")
    assert act.target == "iam:role/ml-training-role"
    doc = iam.get_role_policy(RoleName="ml-training-role", PolicyName=REVOKE_POLICY_NAME)["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    cond = doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    assert cond == res["token_issued_before"][:19] + "Z"
    r.revert(dataclasses.replace(act, status="done", result=res))
    assert iam.list_role_policies(RoleName="ml-training-role")["PolicyNames"] == []


def test_unknown_user_fails_without_retry(moto_url, aws_env):
    from responders.base import ResponderError
    r = AwsIamResponder("aws_iam/t", endpoint_url=moto_url)
    with pytest.raises(ResponderError) as e:
        _run(r, _alert(f"arn:aws:iam::{ACCOUNT}:user/nobody"), operation="deactivate_access_key")
    assert "NoSuchEntity" in str(e.value) and not e.value.retryable


POLICY = """
policies:
  - id: credential-abuse
    match: {detector: ["sigma/*"], tags: [attack.credential-access]}
    alert: {group_by: [entity], labels: {access_key_id: "{evidence.event.aws.cloudtrail.user_identity.access_key_id}"}}
    routes:
      - {responder: aws_iam/default, dry_run: false, params: {operation: deactivate_access_key}}
"""


def test_pipeline_real_disable_then_cli_undo_and_verify(tmp_path, moto_url, iam):
    from agent.cli import _load_commands, cli
    from agent.stages.act import ActStage  # noqa: F401 - the harness builds it
    from tests.unit.agent.lifecycle.harness import Harness

    key = _user_with_key(iam, "carol")
    r = AwsIamResponder("aws_iam/default", endpoint_url=moto_url)
    h = Harness(tmp_path, POLICY, responders=[r])
    arn = f"arn:aws:iam::{ACCOUNT}:user/carol"
    f = Finding.create(detector="sigma/default", entity=arn, time=1000.0, score=1.0, threshold=1.0, severity="high",
                       title="Console login brute force", tags=("attack.credential-access", "attack.t1110"),
                       evidence={"event": {"aws.cloudtrail.user_identity.access_key_id": key}}, event_ids=("e1",),
                       rule="bruteforce")
    h.feed(f, f)
    [alert] = h.alerts()
    [act] = h.actions()
    assert alert.labels["access_key_id"] == key
    assert act.status == "done" and not act.dry_run and act.result["deactivated"] == [key]
    assert _key_status(iam, "carol", key) == "Inactive"
    h.close()

    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\npolicies: [{tmp_path / 'policies.yaml'}]\n"
                    f"responders:\n  aws_iam/default: {{endpoint_url: '{moto_url}'}}\n")
    _load_commands()
    run = CliRunner().invoke(cli, ["-c", str(conf), "actions", "undo", act.id[:12], "--json"], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert orjson.loads(run.output)["status"] == "undone"
    assert _key_status(iam, "carol", key) == "Active"
    again = CliRunner().invoke(cli, ["-c", str(conf), "actions", "undo", act.id[:12]], catch_exceptions=False)
    assert again.exit_code == 1 and "only executed (done) actions can be undone" in again.output
    v = CliRunner().invoke(cli, ["-c", str(conf), "actions", "verify", "--json"], catch_exceptions=False)
    assert v.exit_code == 0 and orjson.loads(v.output)["entries"] == 4      # intent, result, undo-intent, undo-result
