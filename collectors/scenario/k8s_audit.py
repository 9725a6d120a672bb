"""Kubernetes audit events: service accounts of the ml-prod cluster doing get/list/watch."""
from __future__ import annotations

import random
from typing import Any, Iterator

from collectors.scenario.platform import K8S_FORMAT
from collectors.scenario.stream import RecordHeap, poisson, random_uuid, stream_rng
from collectors.scenario.timeline import iso

_K8S_ACTORS = (
    # username, uid, source ip, user agent, rate/min, requests (verb, resource, namespace, name, group)
    ("system:serviceaccount:ml-training:trainer", "5b3c1f2e-9a41-4c77-8f0e-1d2a3b4c5d01",
     "10.0.1.11", "python-requests/2.31.0 kubernetes/29.0.0", 0.6,
     [("get", "pods", "ml-training", "llama-ft-worker-0", ""), ("get", "configmaps", "ml-training", "llama-ft-config", ""),
      ("list", "pods", "ml-training", None, "")]),
    ("system:serviceaccount:monitoring:prometheus", "5b3c1f2e-9a41-4c77-8f0e-1d2a3b4c5d02",
     "10.0.3.20", "prometheus/v2.49.1", 1.2,
     [("list", "pods", None, None, ""), ("list", "nodes", None, None, ""), ("watch", "endpoints", None, None, ""),
      ("list", "services", None, None, "")]),
    ("system:serviceaccount:kube-system:cluster-autoscaler", "5b3c1f2e-9a41-4c77-8f0e-1d2a3b4c5d03",
     "10.0.0.15", "cluster-autoscaler/v1.29.0", 0.5,
     [("list", "nodes", None, None, ""), ("list", "pods", None, None, ""), ("get", "configmaps", "kube-system",
                                                                              "cluster-autoscaler-status", "")]),
    ("system:serviceaccount:serving:model-server", "5b3c1f2e-9a41-4c77-8f0e-1d2a3b4c5d04",
     "10.0.2.31", "model-server/2024.5 (linux/amd64) kubernetes/v1.29.2", 0.2,
     [("get", "configmaps", "serving", "llm-chat-config", ""), ("get", "configmaps", "serving", "fraud-scorer-config", ""),
      ("watch", "configmaps", "serving", None, "")]),
    ("system:serviceaccount:kube-system:kube-state-metrics", "5b3c1f2e-9a41-4c77-8f0e-1d2a3b4c5d05",
     "10.0.3.21", "kube-state-metrics/v2.10.1", 0.4,
     [("list", "deployments", None, None, "apps"), ("list", "jobs", None, None, "batch"),
      ("watch", "pods", None, None, "")]),
)


def service_account_groups(user: str) -> list[str]:
    """The groups the API server gives a service account: all, its namespace's, authenticated."""
    namespace = user.split(":")[2]
    return ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"]


def _k8s_event(rng: random.Random, t: float, actor: tuple, req: tuple) -> dict:
    user, uid, ip, ua, _rate, _reqs = actor
    groups = service_account_groups(user)
    verb, resource, ns, name, group = req
    api_version = "v1"
    prefix = "/api/v1" if not group else f"/apis/{group}/v1"
    uri = prefix + (f"/namespaces/{ns}" if ns else "") + f"/{resource}" + (f"/{name}" if name else "")
    if verb == "list":
        uri += "?limit=500&resourceVersion=0"
    elif verb == "watch":
        uri += f"?allowWatchBookmarks=true&resourceVersion={rng.randrange(10_000_000, 99_000_000)}&watch=true"
    ref: dict[str, Any] = {"resource": resource, "apiVersion": api_version}
    if group:
        ref["apiGroup"] = group
    if ns:
        ref["namespace"] = ns
    if name:
        ref["name"] = name
    ms = rng.randrange(2, 40) * 1000
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": random_uuid(rng),
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": verb,
        "user": {"username": user, "uid": uid, "groups": groups,
                 "extra": {"authentication.kubernetes.io/pod-name": [f"{user.rsplit(':', 1)[1]}-0"]}},
        "sourceIPs": [ip],
        "userAgent": ua,
        "objectRef": ref,
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": iso(t, micro=True),
        "stageTimestamp": iso(t + ms / 1e6, micro=True),
        "annotations": {"authorization.k8s.io/decision": "allow",
                        "authorization.k8s.io/reason": f'RBAC: allowed by ClusterRoleBinding "{user.rsplit(":", 1)[1]}" '
                                                       f'of ClusterRole "{user.rsplit(":", 1)[1]}" to ServiceAccount '
                                                       f'"{user.rsplit(":", 1)[1]}/{user.split(":")[2]}"'},
    }


def gen_k8s_audit(seed: int, t0: float, dur: float) -> Iterator:
    out = RecordHeap()
    rng = stream_rng(seed, "k8s-audit")
    for m in range(int(dur // 60)):
        base = t0 + m * 60
        for actor in _K8S_ACTORS:
            *_, rate, requests = actor
            for _ in range(poisson(rng, rate)):
                tt = base + rng.randrange(60) + rng.randrange(1000) / 1000.0
                out.add(tt, K8S_FORMAT, _k8s_event(rng, tt, actor, rng.choice(requests)))
        yield from out.drain(base + 60)
    yield from out.drain()
