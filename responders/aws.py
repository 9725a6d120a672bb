"""Cloud credentials (AWS IAM via boto3): contain a compromised principal, each with its undo.

type `aws_iam`, route param `operation`:
- `deactivate_access_key` — the key the alert names (`access_key_id` label or
  `aws.cloudtrail.user_identity.access_key_id` in the evidence), or every active key of the user;
  undo: re-activate exactly those keys.
- `attach_deny_policy` — inline policy `WardenDenyAll` (Deny * on *) on the user or role;
  undo: delete that inline policy.
- `revoke_sessions` — inline policy `AWSRevokeOlderSessions` on the role: Deny * when
  `aws:TokenIssueTime` is before now (what the console's "Revoke active sessions" does);
  undo: delete that inline policy.

The principal comes from the alert: labels `user`/`role`/`arn`, evidence `user.name`,
`aws.cloudtrail.user_identity.arn`, or the alert entity when it is an IAM/STS ARN.
Config: region, endpoint_url (moto / LocalStack), profile; credentials come from the usual boto3
chain. Permissions: see `permissions`.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from core.errors import ConfigError
from core.event import stable_id
from core.registry import register
from responders.base import Responder, ResponderError, alert_value

OPERATIONS = ("deactivate_access_key", "attach_deny_policy", "revoke_sessions")
DENY_POLICY_NAME = "WardenDenyAll"
REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"
_ARN = re.compile(r"^arn:aws[\w-]*:(iam|sts)::(\d{12}):(user|role|assumed-role)/(?:.*/)?([^/]+?)(?:/([^/]+))?$")


def deny_all_policy() -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Sid": "WardenDenyAll", "Effect": "Deny", "Action": "*",
                                                    "Resource": "*"}]}


def revoke_older_sessions_policy(before: dt.datetime) -> dict:
    ts = before.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                                                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": ts}}}]}


def parse_principal(arn: str | None) -> dict[str, str]:
    """{kind: user|role, name, account, arn} from an IAM user / role / assumed-role ARN."""
    if not arn:
        return {}
    m = _ARN.match(arn.strip())
    if not m:
        return {}
    _, account, kind, name, _session = m.groups()
    if kind == "assumed-role":
        # arn:aws:sts::123:assumed-role/RoleName/session → the role
        parts = arn.split(":", 5)[5].split("/")
        name = parts[1] if len(parts) > 1 else name
        kind = "role"
        arn = f"arn:aws:iam::{account}:role/{name}"
    return {"kind": kind, "name": name, "account": account, "arn": arn}


@register
class AwsIamResponder(Responder):
    type = "aws_iam"
    action = "contain_credentials"
    reversible = True
    parameters: ClassVar[dict] = {"operation": (str, True), "user": (str, False), "role": (str, False),
                                  "access_key_id": (str, False)}
    permissions = ("iam:ListAccessKeys", "iam:UpdateAccessKey", "iam:PutUserPolicy", "iam:DeleteUserPolicy",
                   "iam:PutRolePolicy", "iam:DeleteRolePolicy")

    @dataclass
    class Config:
        region: str = "us-east-1"
        endpoint_url: str | None = None
        profile: str | None = None

    @classmethod
    def check_route(cls, params, where) -> None:
        super().check_route(params, where)
        op = params.get("operation")
        if op not in OPERATIONS:
            raise ConfigError(f"{where}: aws_iam operation must be one of {', '.join(OPERATIONS)}, got {op!r}")

    def on_start(self) -> None:
        import boto3
        session = boto3.session.Session(profile_name=self.config.profile) if self.config.profile else boto3.session.Session()
        self.iam = session.client("iam", region_name=self.config.region, endpoint_url=self.config.endpoint_url)

    def _client(self):
        if not self._started:
            self.start()
        return self.iam

    # what the alert is about --------------------------------------------------------------------
    def principal(self, alert, params) -> dict[str, str]:
        arn = alert_value(alert, "arn", "aws.cloudtrail.user_identity.arn", "evidence.event.aws.cloudtrail.user_identity.arn")
        p = parse_principal(arn) or parse_principal(alert.entity)
        user = params.get("user") or alert_value(alert, "user", "aws_user")
        role = params.get("role") or alert_value(alert, "role", "aws_role")
        if user:
            p = {**p, "kind": "user", "name": str(user)}
        elif role:
            p = {**p, "kind": "role", "name": str(role)}
        if not p.get("name"):
            name = alert_value(alert, "user.name", "evidence.event.user.name")
            if name:
                p = {**p, "kind": "user", "name": str(name)}
        key = params.get("access_key_id") or alert_value(
            alert, "access_key_id", "aws.cloudtrail.user_identity.access_key_id",
            "evidence.event.aws.cloudtrail.user_identity.access_key_id", "evidence.matched.userIdentity.accessKeyId")
        if key:
            p["access_key_id"] = str(key)
        acct = alert_value(alert, "cloud.account.id", "evidence.event.cloud.account.id")
        if acct and not p.get("account"):
            p["account"] = str(acct)
        return p

    def target(self, alert, params) -> str:
        p = self.principal(alert, params)
        op = params.get("operation", "")
        if op == "deactivate_access_key" and p.get("access_key_id"):
            return f"iam:{p.get('name', '?')}/{p['access_key_id']}"
        return f"iam:{p.get('kind', 'principal')}/{p.get('name', alert.entity)}"

    def resource(self, alert, params) -> dict[str, Any]:
        p = self.principal(alert, params)
        return {"kind": f"iam_{p.get('kind', 'principal')}", "name": p.get("name", ""), "arn": p.get("arn", ""),
                "account": p.get("account", ""), "principal": p.get("name", "")}

    def plan(self, alert, route):
        actions = super().plan(alert, route)
        import dataclasses
        out = []
        for a in actions:
            op = (a.params or {}).get("operation", "")
            out.append(dataclasses.replace(a, id=stable_id("action", alert.id, self.name, op, a.target, alert.status),
                                           action=op or self.action,
                                           params={**a.params, "principal": self.principal(alert, a.params)}))
        return out

    def undo_for(self, alert, target, params) -> dict[str, Any]:
        op = params.get("operation")
        return {"deactivate_access_key": {"operation": "activate_access_key"},
                "attach_deny_policy": {"operation": "delete_inline_policy", "policy": DENY_POLICY_NAME},
                "revoke_sessions": {"operation": "delete_inline_policy", "policy": REVOKE_POLICY_NAME}}.get(op, {})

    # doing it -----------------------------------------------------------------------------------
    def _call(self, fn, **kw):
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
        try:
            return fn(**kw)
        except EndpointConnectionError as e:
            raise ResponderError(f"AWS unreachable: {e}", retryable=True) from None
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            retry = code in ("Throttling", "ThrottlingException", "ServiceUnavailable", "RequestLimitExceeded")
            raise ResponderError(f"AWS {code}: {e.response.get('Error', {}).get('Message', '')}", retryable=retry) from None
        except BotoCoreError as e:
            raise ResponderError(f"AWS error: {e}", retryable=True) from None

    def execute(self, action, alert):
        iam = self._client()
        op = action.params.get("operation")
        p = action.params.get("principal") or self.principal(alert, action.params)
        kind, name = p.get("kind"), p.get("name")
        if not name:
            raise ResponderError("alert names no IAM user or role", retryable=False)
        if op == "deactivate_access_key":
            if kind != "user":
                raise ResponderError(f"access keys belong to IAM users, not {kind} {name}", retryable=False)
            keys = [p["access_key_id"]] if p.get("access_key_id") else [
                k["AccessKeyId"] for k in self._call(iam.list_access_keys, UserName=name)["AccessKeyMetadata"]
                if k.get("Status") == "Active"]
            for k in keys:
                self._call(iam.update_access_key, UserName=name, AccessKeyId=k, Status="Inactive")
            return {"user": name, "deactivated": keys}
        if op == "attach_deny_policy":
            doc = json.dumps(deny_all_policy())
            if kind == "role":
                self._call(iam.put_role_policy, RoleName=name, PolicyName=DENY_POLICY_NAME, PolicyDocument=doc)
            else:
                self._call(iam.put_user_policy, UserName=name, PolicyName=DENY_POLICY_NAME, PolicyDocument=doc)
            return {kind or "user": name, "policy": DENY_POLICY_NAME}
        if op == "revoke_sessions":
            if kind != "role":
                raise ResponderError(f"revoke_sessions applies to IAM roles, not {kind} {name}", retryable=False)
            now = dt.datetime.now(dt.timezone.utc)
            self._call(iam.put_role_policy, RoleName=name, PolicyName=REVOKE_POLICY_NAME,
                       PolicyDocument=json.dumps(revoke_older_sessions_policy(now)))
            return {"role": name, "policy": REVOKE_POLICY_NAME, "token_issued_before": now.isoformat()}
        raise ResponderError(f"unknown operation {op!r}", retryable=False)

    def revert(self, action):
        iam = self._client()
        op = action.params.get("operation")
        p = action.params.get("principal") or {}
        name = p.get("name")
        if op == "deactivate_access_key":
            keys = action.result.get("deactivated") or []
            for k in keys:
                self._call(iam.update_access_key, UserName=name, AccessKeyId=k, Status="Active")
            return {"reactivated": keys}
        if op in ("attach_deny_policy", "revoke_sessions"):
            pol = DENY_POLICY_NAME if op == "attach_deny_policy" else REVOKE_POLICY_NAME
            if p.get("kind") == "role":
                self._call(iam.delete_role_policy, RoleName=name, PolicyName=pol)
            else:
                self._call(iam.delete_user_policy, UserName=name, PolicyName=pol)
            return {"deleted_policy": pol}
        raise ResponderError(f"cannot undo {op!r}", retryable=False)

    def on_close(self) -> None:
        self.iam = None
