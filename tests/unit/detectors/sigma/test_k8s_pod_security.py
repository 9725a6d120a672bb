"""Kubernetes pod security and system namespaces across warden's whole rule set: routine workloads raise
nothing at alerting level, and each attack below is caught by at least one rule (whatever its kind,
whichever container, whoever created it). Per-rule cases live in rules/sigma/kubernetes/*.examples.jsonl."""
from __future__ import annotations

import pytest

from collectors.formats import parse_record
from detectors.sigma.detector import BUILTIN_RULES
from detectors.sigma.engine import SigmaEngine

USER = {"username": "dev@example.com", "groups": ["system:authenticated"]}
RS = {"username": "system:serviceaccount:kube-system:replicaset-controller", "groups": ["system:serviceaccounts"]}


def audit(verb, resource, ns, obj=None, user=USER, group="", sub=None):
    ref = {"resource": resource, "namespace": ns, "name": "x", "apiVersion": f"{group}/v1" if group else "v1"}
    if group:
        ref["apiGroup"] = group
    if sub:
        ref["subresource"] = sub
    ev = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": f"{verb}-{resource}",
          "stage": "ResponseComplete", "requestURI": f"/api/v1/namespaces/{ns}/{resource}", "verb": verb, "user": user,
          "sourceIPs": ["10.0.3.4"], "userAgent": "kubectl/v1.29.0", "objectRef": ref,
          "responseStatus": {"code": 201 if verb == "create" else 200},
          "requestReceivedTimestamp": "2026-01-05T10:00:00Z", "stageTimestamp": "2026-01-05T10:00:00.05Z"}
    if obj is not None:
        ev["requestObject"] = obj
    return ev


def pod_spec(*containers, **extra):
    return {"containers": list(containers) or [{"name": "app", "image": "ghcr.io/acme/app:1.0",
                                                 "ports": [{"containerPort": 8080}]}], **extra}


def deployment(spec, kind="Deployment"):
    return {"kind": kind, "apiVersion": "apps/v1", "metadata": {"name": "web"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": spec}}}


SECURE = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
          "seccompProfile": {"type": "RuntimeDefault"}}
ROUTINE = {
    "deployment": audit("create", "deployments", "shop", deployment(pod_spec()), group="apps"),
    "deployment scaled": audit("patch", "deployments", "shop", {"spec": {"replicas": 5}}, group="apps"),
    "hardened deployment": audit("create", "deployments", "shop", deployment(pod_spec(
        {"name": "app", "image": "ghcr.io/acme/app:1.0", "securityContext": SECURE})), group="apps"),
    "pod by the replicaset controller": audit("create", "pods", "shop", {"kind": "Pod", "spec": pod_spec()}, user=RS),
    "unprivileged pod": audit("create", "pods", "shop", {"kind": "Pod", "spec": pod_spec(
        volumes=[{"name": "tmp", "emptyDir": {}}])}),
    "service": audit("create", "services", "shop", {"kind": "Service", "spec": {"type": "ClusterIP",
                                                                              "ports": [{"port": 80}]}}),
    "configmap": audit("create", "configmaps", "shop", {"kind": "ConfigMap", "data": {
        "LOG_LEVEL": "info", "app.yaml": "listen: 8080\npassword_policy: strong\n"}}),
    "job": audit("create", "jobs", "batch", deployment(pod_spec(restartPolicy="Never"), "Job"), group="batch"),
    "list pods": audit("list", "pods", "shop"),
}
ATTACKS = {
    "privileged pod from a controller": audit("create", "pods", "default", {"kind": "Pod", "spec": pod_spec(
        {"name": "nginx", "image": "nginx", "securityContext": {"privileged": True}})}, user=RS),
    "host network pod from a controller": audit("create", "pods", "default", {"kind": "Pod", "spec": pod_spec(
        hostNetwork=True)}, user=RS),
    "sensitive mount in a second container's pod": audit("create", "deployments", "default", deployment(pod_spec(
        {"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"},
        volumes=[{"name": "h", "hostPath": {"path": "/etc"}}])), group="apps"),
    "configmap with aws keys": audit("create", "configmaps", "default", {"kind": "ConfigMap", "data": {
        "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG"}}),
    "secret in kube-system": audit("create", "secrets", "kube-system", {"kind": "Secret"}),
    "service account in kube-system": audit("create", "serviceaccounts", "kube-system", {"kind": "ServiceAccount"}),
    "pod in kube-system": audit("create", "pods", "kube-system", {"kind": "Pod", "spec": pod_spec()}),
}


@pytest.fixture(scope="module")
def engine():
    eng = SigmaEngine(min_level="medium").load_paths([BUILTIN_RULES])
    assert not eng.errors
    return eng


@pytest.mark.parametrize("name", sorted(ROUTINE))
def test_routine_workloads_raise_nothing(engine, name):
    [ev] = parse_record(ROUTINE[name], "k8s-audit", "t")
    assert [r.title for r, _ in engine.match(ev)] == []


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_pod_security_and_system_namespace_attacks_are_caught(engine, name):
    [ev] = parse_record(ATTACKS[name], "k8s-audit", "t")
    assert engine.match(ev)
