"""CloudTrail records of the platform's normal activity: training pods streaming dataset shards and
writing checkpoints (IRSA role sessions, refreshed hourly), serving pods reading a weights manifest,
engineers and CI; plus the record builders the account-takeover incident uses."""
from __future__ import annotations

import random
from typing import Any, Iterator

from collectors.scenario.platform import (ACCOUNT, CLOUDTRAIL_FORMAT, CLUSTER, DATASETS_BUCKET, JOB, NEW_PRINCIPAL,
                                          NODE_IPS, NODES, REGION, WEIGHTS_BUCKET)
from collectors.scenario.stream import RecordHeap, random_uuid, stream_rng
from collectors.scenario.timeline import iso

_UA_BOTO = "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.11.8"
_UA_CLI = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 exec-env/CloudShell"
_UA_BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/120.0.0.0 Safari/537.36")
_UA_CI = "aws-cli/2.15.30 md/command#ecr.get-login-password ua/2.0 os/linux#5.15.0 GitHubActions"

PRINCIPAL_IDS = {"alice": "AIDA2XQ7MZ3ALICE0001", "bob": "AIDA2XQ7MZ3BOB000002",
                  "ci-deployer": "AIDA2XQ7MZ3CIDEPLOY3", NEW_PRINCIPAL: "AIDA2XQ7MZ3BKPSVC999"}
ACCESS_KEYS = {"alice": "ASIA2XQ7MZ3ALICESESS", "bob": "ASIA2XQ7MZ3BOBSESSN1",
                "ci-deployer": "AKIA2XQ7MZ3CIDEPLOY1", NEW_PRINCIPAL: "AKIA2XQ7MZ3BKPSVC4F2"}
_USER_IPS = {"alice": "198.51.100.23", "bob": "198.51.100.41", "ci-deployer": "192.0.2.10"}


def iam_user(user: str, key: bool = True) -> dict:
    ui = {"type": "IAMUser", "principalId": PRINCIPAL_IDS[user], "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
          "accountId": ACCOUNT, "userName": user}
    if key:
        ui["accessKeyId"] = ACCESS_KEYS[user]
    return ui


def _role_session(role: str, session: str, role_id: str) -> dict:
    return {"type": "AssumedRole", "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}", "accountId": ACCOUNT,
            "accessKeyId": "ASIA" + role_id[4:12] + session[-4:].upper().replace("-", "X").rjust(4, "X") + "SESS",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": role_id,
                                                 "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                                 "accountId": ACCOUNT, "userName": role},
                               "attributes": {"creationDate": "2026-01-04T23:10:00Z",
                                              "mfaAuthenticated": "false"}}}


def cloudtrail_record(
        rng: random.Random, t: float, ui: dict, source: str, name: str, ip: str, ua: str, *,
        req: Any = None, resp: Any = None, read_only: bool = True, event_type: str = "AwsApiCall",
        management: bool = True, error_code: str | None = None, error_message: str | None = None,
        resources: list | None = None, extra: dict | None = None) -> dict:
    rec: dict[str, Any] = {
        "eventVersion": "1.09" if management else "1.10",
        "userIdentity": ui,
        "eventTime": iso(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": ip,
        "userAgent": ua,
    }
    if error_code:
        rec["errorCode"] = error_code
    if error_message:
        rec["errorMessage"] = error_message
    rec["requestParameters"] = req
    rec["responseElements"] = resp
    if extra:
        rec.update(extra)
    rec["requestID"] = random_uuid(rng)
    rec["eventID"] = random_uuid(rng)
    rec["readOnly"] = read_only
    if resources:
        rec["resources"] = resources
    rec["eventType"] = event_type
    rec["managementEvent"] = management
    rec["recipientAccountId"] = ACCOUNT
    rec["eventCategory"] = "Management" if management else "Data"
    if event_type == "AwsApiCall":
        rec["tlsDetails"] = {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                             "clientProvidedHostHeader": f"{source.split('.')[0]}.{REGION}.amazonaws.com"}
    return rec


def s3_get(rng, t, ui, ip, ua, bucket, key, size):
    return cloudtrail_record(
        rng, t, ui, "s3.amazonaws.com", "GetObject", ip, ua,
        req={"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com", "key": key},
        resp=None, read_only=True, management=False,
        resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                   {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        extra={"additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                                       "bytesTransferredIn": 0, "bytesTransferredOut": size,
                                       "AuthenticationMethod": "AuthHeader",
                                       "x-amz-id-2": f"{rng.getrandbits(96):024x}"}})


def _s3_put(rng, t, ui, ip, ua, bucket, key, size):
    return cloudtrail_record(
        rng, t, ui, "s3.amazonaws.com", "PutObject", ip, ua,
        req={"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com", "key": key},
        resp={"x-amz-server-side-encryption": "aws:kms"}, read_only=False, management=False,
        resources=[{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                   {"accountId": ACCOUNT, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        extra={"additionalEventData": {"SignatureVersion": "SigV4", "bytesTransferredIn": size,
                                       "bytesTransferredOut": 0, "AuthenticationMethod": "AuthHeader"}})


def _describe_instances(rng, t, ui, ip, ua):
    return cloudtrail_record(
        rng, t, ui, "ec2.amazonaws.com", "DescribeInstances", ip, ua,
        req={"instancesSet": {}, "filterSet": {"items": [{"name": "tag:kubernetes.io/cluster/" + CLUSTER,
                                                           "valueSet": {"items": [{"value": "owned"}]}}]}})


def list_buckets(rng, t, ui, ip, ua):
    return cloudtrail_record(
        rng, t, ui, "s3.amazonaws.com", "ListBuckets", ip, ua,
        req={"Host": f"s3.{REGION}.amazonaws.com"})


def console_login(rng, t, user, ip, ua, ok: bool, mfa: bool = False):
    ui = iam_user(user, key=False)
    ui["accessKeyId"] = ""
    return cloudtrail_record(
        rng, t, ui, "signin.amazonaws.com", "ConsoleLogin", ip, ua,
        req=None, resp={"ConsoleLogin": "Success" if ok else "Failure"}, read_only=False,
        event_type="AwsConsoleSignIn", error_message=None if ok else "Failed authentication",
        extra={"additionalEventData": {
            "LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true",
            "MobileVersion": "No", "MFAUsed": "Yes" if mfa else "No"}})


_SHARDS = [f"llama-ft/tokenized/shard-{i:05d}.parquet" for i in range(4096)]
CHECKPOINT_FILES = [f"model-{i:05d}-of-00004.safetensors" for i in range(1, 5)] + [
    "optimizer.pt", "config.json", "trainer_state.json"]


_OIDC = f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.{REGION}.amazonaws.com/id/5C1E2F7A9B3D4E6F8A0B1C2D3E4F5A6B"


def _worker(k: int) -> str:
    return f"{JOB}-worker-{k}"


def gen_cloudtrail(seed: int, t0: float, dur: float) -> Iterator:
    out = RecordHeap()
    rng = stream_rng(seed, "cloudtrail")
    train_role, train_role_id = "ml-training-role", "AROA2XQ7MZ3TRAINROLE"
    serve_role, serve_role_id = "inference-serving-role", "AROA2XQ7MZ3SERVEROLE"
    minutes = int(dur // 60)
    for m in range(minutes):
        base = t0 + m * 60
        # training nodes stream dataset shards
        for k, nd in enumerate(NODES):
            if rng.random() < 0.35:
                ui = _role_session(train_role, _worker(k), train_role_id)
                key = _SHARDS[rng.randrange(len(_SHARDS))]
                tt = base + rng.randrange(60)
                out.add(tt, CLOUDTRAIL_FORMAT,
                        s3_get(rng, tt, ui, NODE_IPS[nd], _UA_BOTO, DATASETS_BUCKET, key,
                               rng.randrange(180_000_000, 260_000_000)))
        # checkpoint every 30 minutes by rank 0
        if m % 30 == 29:
            ui = _role_session(train_role, _worker(0), train_role_id)
            step = 12000 + (m + 1) // 30 * 500
            for j, fn in enumerate(CHECKPOINT_FILES):
                tt = base + 5 + 7 * j
                out.add(tt, CLOUDTRAIL_FORMAT,
                        _s3_put(rng, tt, ui, NODE_IPS["gpu-node-1"], _UA_BOTO, WEIGHTS_BUCKET,
                                f"checkpoints/{JOB}/step-{step}/{fn}", rng.randrange(2_000_000_000, 5_000_000_000)))
        # the training pods (IRSA, AWS_ROLE_SESSION_NAME = pod name) refresh their credentials hourly
        if m % 60 == 7:
            for k, nd in enumerate(NODES):
                tt = base + 3 * k
                sess = _worker(k)
                sa = "system:serviceaccount:ml-training:trainer"
                rec = cloudtrail_record(
                    rng, tt, {"type": "WebIdentityUser", "principalId": f"{_OIDC}:sts.amazonaws.com:{sa}",
                              "userName": sa, "identityProvider": _OIDC},
                    "sts.amazonaws.com", "AssumeRoleWithWebIdentity", NODE_IPS[nd], _UA_BOTO,
                    req={"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{train_role}", "roleSessionName": sess},
                    resp={"credentials": {"accessKeyId": f"ASIA2XQ7MZ3NODE{k}{m // 60:04d}",
                                          "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
                                          "expiration": iso(tt + 3600)},
                          "subjectFromWebIdentityToken": sa,
                          "assumedRoleUser": {"assumedRoleId": f"{train_role_id}:{sess}",
                                              "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{train_role}/{sess}"},
                          "provider": _OIDC, "audience": "sts.amazonaws.com"},
                    resources=[{"accountId": ACCOUNT, "type": "AWS::IAM::Role",
                                "ARN": f"arn:aws:iam::{ACCOUNT}:role/{train_role}"}])
                out.add(tt, CLOUDTRAIL_FORMAT, rec)
        # serving pods poll the current weights manifest
        if rng.random() < 0.15:
            ui = _role_session(serve_role, "llm-chat-7d9f8b6c5-x2v4q", serve_role_id)
            tt = base + rng.randrange(60)
            out.add(tt, CLOUDTRAIL_FORMAT,
                    s3_get(rng, tt, ui, "10.0.2.31", _UA_BOTO, WEIGHTS_BUCKET,
                           "release/llm-chat/2024.5/manifest.json", rng.randrange(2_000, 4_000)))
        # engineers and CI
        if m == 12:
            tt = base + 31
            out.add(tt, CLOUDTRAIL_FORMAT, console_login(rng, tt, "bob", _USER_IPS["bob"], _UA_BROWSER, True, mfa=True))
        for user, p in (("alice", 0.05), ("bob", 0.04)):
            if rng.random() < p:
                tt = base + rng.randrange(60)
                fn = rng.choice((_describe_instances, list_buckets, "get"))
                ui = iam_user(user)
                if fn == "get":
                    key = _SHARDS[rng.randrange(len(_SHARDS))]
                    rec = s3_get(rng, tt, ui, _USER_IPS[user], _UA_CLI, DATASETS_BUCKET, key,
                                 rng.randrange(180_000_000, 260_000_000))
                else:
                    rec = fn(rng, tt, ui, _USER_IPS[user], _UA_CLI)
                out.add(tt, CLOUDTRAIL_FORMAT, rec)
        if m % 15 == 4:
            tt = base + rng.randrange(60)
            ui = iam_user("ci-deployer")
            out.add(tt, CLOUDTRAIL_FORMAT,
                    cloudtrail_record(
                        rng, tt, ui, "ecr.amazonaws.com", "GetAuthorizationToken", _USER_IPS["ci-deployer"], _UA_CI,
                        req={"registryIds": [ACCOUNT]}, resp=None))
            tt2 = tt + 2
            out.add(tt2, CLOUDTRAIL_FORMAT,
                    _describe_instances(rng, tt2, ui, _USER_IPS["ci-deployer"], _UA_CI))
        yield from out.drain(base + 60)
    yield from out.drain()
