"""Kubernetes isolation with the official `kubernetes` client, each operation with its undo.

type `kubernetes`, route param `operation`:
- `quarantine_pod` — label the pod `warden.io/quarantine=<action>` and create a deny-all
  NetworkPolicy (`warden-quarantine-<pod>`: podSelector on that label, policyTypes Ingress+Egress,
  no rules); undo: delete the policy and remove the label.
- `label_pod` — merge params `labels` / `annotations` into the pod; undo: remove them.
- `cordon_node` — spec.unschedulable=true on the node; undo: uncordon.
- `scale_to_zero` — the deployment's scale subresource to 0 (previous replicas recorded); undo:
  scale back.
- `delete_pod` — delete the pod (its controller recreates it clean); not undoable.

Where things come from on the alert: namespace (`namespace` label, `k8s.namespace.name`,
`orchestrator.namespace`), pod (`pod`, `k8s.pod.name`, `orchestrator.resource.name`), node (`node`,
`k8s.node.name`, `host.name`, else the entity), deployment (`deployment`, `k8s.deployment.name`);
route params override them. Before touching a pod the responder reads it, so a pod carrying a
protected label is never touched (recorded `skipped`).

Config: kubeconfig / context (default: in-cluster when available, else ~/.kube/config) or an
explicit `host` (+ `token`, `verify_ssl`, `ca_cert`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from core.component import FilePath
from core.errors import ConfigError
from core.event import stable_id
from core.registry import register
from responders.base import Responder, ResponderError, alert_value

OPERATIONS = ("quarantine_pod", "label_pod", "cordon_node", "scale_to_zero", "delete_pod")
QUARANTINE_LABEL = "warden.io/quarantine"
MERGE = "application/merge-patch+json"


def quarantine_policy(namespace: str, pod: str, token: str):
    """The deny-all NetworkPolicy for one quarantined pod (built with the client's models)."""
    from kubernetes import client as k
    return k.V1NetworkPolicy(
        api_version="networking.k8s.io/v1", kind="NetworkPolicy",
        metadata=k.V1ObjectMeta(name=policy_name(pod), namespace=namespace,
                                labels={"app.kubernetes.io/managed-by": "warden", QUARANTINE_LABEL: token}),
        spec=k.V1NetworkPolicySpec(pod_selector=k.V1LabelSelector(match_labels={QUARANTINE_LABEL: token}),
                                   policy_types=["Ingress", "Egress"], ingress=[], egress=[]))


def policy_name(pod: str) -> str:
    return f"warden-quarantine-{pod}"[:253]


@register
class KubernetesResponder(Responder):
    type = "kubernetes"
    action = "kubernetes"
    reversible = True
    parameters: ClassVar[dict] = {"operation": (str, True), "namespace": (str, False), "pod": (str, False),
                                  "node": (str, False), "deployment": (str, False), "labels": (dict, False),
                                  "annotations": (dict, False)}
    permissions = ("pods:get,patch,delete", "networkpolicies:create,delete", "nodes:get,patch",
                   "deployments/scale:get,patch")

    @dataclass
    class Config:
        kubeconfig: FilePath | None = None
        context: str | None = None
        in_cluster: bool | None = None      # None: try in-cluster, then kubeconfig
        host: str | None = None             # explicit API server (tests, proxies)
        token: str | None = None
        verify_ssl: bool = True
        ca_cert: FilePath | None = None
        timeout_s: float = 10.0

    @classmethod
    def check_route(cls, params, where) -> None:
        super().check_route(params, where)
        op = params.get("operation")
        if op not in OPERATIONS:
            raise ConfigError(f"{where}: kubernetes operation must be one of {', '.join(OPERATIONS)}, got {op!r}")
        if op == "label_pod" and not (params.get("labels") or params.get("annotations")):
            raise ConfigError(f"{where}: label_pod needs labels and/or annotations")

    # client -------------------------------------------------------------------------------------
    api_client = None

    def _build(self) -> None:
        from kubernetes import client as k, config as kc
        c = self.config
        if c.host:
            conf = k.Configuration(host=c.host)
            conf.verify_ssl = c.verify_ssl
            if c.ca_cert:
                conf.ssl_ca_cert = c.ca_cert
            if c.token:
                conf.api_key = {"authorization": f"Bearer {c.token}"}
        else:
            conf = k.Configuration()
            loaded = False
            if c.in_cluster is not False:
                try:
                    kc.load_incluster_config(client_configuration=conf)
                    loaded = True
                except kc.ConfigException:
                    if c.in_cluster:
                        raise
            if not loaded:
                kc.load_kube_config(config_file=c.kubeconfig, context=c.context, client_configuration=conf)
        self.api_client = k.ApiClient(conf)
        self.core = k.CoreV1Api(self.api_client)
        self.apps = k.AppsV1Api(self.api_client)
        self.net = k.NetworkingV1Api(self.api_client)

    def on_close(self) -> None:
        if self.api_client is not None:
            self.api_client.close()
            self.api_client = None

    def _apis(self):
        """The API clients, built on first use (start() never needs a cluster)."""
        if self.api_client is None:
            try:
                self._build()
            except Exception as e:  # noqa: BLE001 - no kubeconfig etc.: a clear, non-retryable failure
                self.api_client = None
                raise ResponderError(f"kubernetes client not configured: {e}", retryable=False) from None
        return self

    def _call(self, fn, *a, **kw):
        from kubernetes.client.exceptions import ApiException
        import urllib3
        kw.setdefault("_request_timeout", self.config.timeout_s)
        try:
            return fn(*a, **kw)
        except ApiException as e:
            retry = e.status in (429, 500, 502, 503, 504)
            raise ResponderError(f"kubernetes API {e.status} {e.reason}", retryable=retry) from None
        except urllib3.exceptions.HTTPError as e:
            raise ResponderError(f"kubernetes API unreachable: {type(e).__name__}", retryable=True) from None

    # what the alert is about --------------------------------------------------------------------
    def where(self, alert, params) -> dict[str, str]:
        ns = params.get("namespace") or alert_value(alert, "namespace", "k8s.namespace.name", "orchestrator.namespace",
                                                    "evidence.event.orchestrator.namespace")
        pod = params.get("pod") or alert_value(alert, "pod", "k8s.pod.name", "orchestrator.resource.name",
                                               "evidence.event.orchestrator.resource.name")
        node = params.get("node") or alert_value(alert, "node", "k8s.node.name", "host.name")
        dep = params.get("deployment") or alert_value(alert, "deployment", "k8s.deployment.name")
        op = params.get("operation")
        if op == "cordon_node" and not node:
            node = alert.entity
        if op in ("quarantine_pod", "label_pod", "delete_pod") and not pod and "/" in alert.entity:
            ns2, _, pod = alert.entity.partition("/")
            ns = ns or ns2
        return {k: str(v) for k, v in {"namespace": ns, "pod": pod, "node": node, "deployment": dep}.items() if v}

    def target(self, alert, params) -> str:
        w = self.where(alert, params)
        op = params.get("operation")
        if op == "cordon_node":
            return f"node/{w.get('node', '?')}"
        if op == "scale_to_zero":
            return f"deployment/{w.get('namespace', 'default')}/{w.get('deployment', '?')}"
        return f"pod/{w.get('namespace', 'default')}/{w.get('pod', '?')}"

    def resource(self, alert, params) -> dict[str, Any]:
        w = self.where(alert, params)
        op = params.get("operation")
        kind = {"cordon_node": "node", "scale_to_zero": "deployment"}.get(op, "pod")
        name = w.get({"node": "node", "deployment": "deployment"}.get(kind, "pod"), "")
        res = {"kind": kind, "name": name, "node": w.get("node", "")}
        if kind != "node":
            res["namespace"] = w.get("namespace", "default")
        return res

    def plan(self, alert, route):
        out = []
        for a in super().plan(alert, route):
            op = a.params.get("operation", "")
            out.append(dataclasses.replace(a, id=stable_id("action", alert.id, self.name, op, a.target, alert.status),
                                           action=op, params={**a.params, "where": self.where(alert, a.params)}))
        return out

    def undo_for(self, alert, target, params) -> dict[str, Any]:
        return {"quarantine_pod": {"operation": "release_pod"}, "label_pod": {"operation": "unlabel_pod"},
                "cordon_node": {"operation": "uncordon_node"}, "scale_to_zero": {"operation": "scale_back"},
                }.get(params.get("operation"), {})

    # doing it -----------------------------------------------------------------------------------
    def _need(self, w: dict, *keys: str) -> None:
        missing = [k for k in keys if not w.get(k)]
        if missing:
            raise ResponderError(f"alert names no {', '.join(missing)}", retryable=False)

    def _check_pod(self, ns: str, pod: str) -> None:
        p = self._call(self.core.read_namespaced_pod, pod, ns)
        labels = dict((p.metadata.labels or {}) if p.metadata else {})
        node = p.spec.node_name if p.spec else ""
        self.check_protected({"kind": "pod", "namespace": ns, "name": pod, "labels": labels, "node": node or ""})

    def execute(self, action, alert):
        self._apis()
        op = action.params.get("operation")
        w = action.params.get("where") or self.where(alert, action.params)
        ns = w.get("namespace", "default")
        if op == "quarantine_pod":
            self._need(w, "pod")
            self._check_pod(ns, w["pod"])
            token = action.id[:16]
            self._call(self.core.patch_namespaced_pod, w["pod"], ns,
                       {"metadata": {"labels": {QUARANTINE_LABEL: token}}}, _content_type=MERGE)
            self._call(self.net.create_namespaced_network_policy, ns, quarantine_policy(ns, w["pod"], token))
            return {"namespace": ns, "pod": w["pod"], "network_policy": policy_name(w["pod"]), "label": token}
        if op == "label_pod":
            self._need(w, "pod")
            self._check_pod(ns, w["pod"])
            meta = {k: v for k, v in (("labels", action.params.get("labels")),
                                      ("annotations", action.params.get("annotations"))) if v}
            self._call(self.core.patch_namespaced_pod, w["pod"], ns, {"metadata": meta}, _content_type=MERGE)
            return {"namespace": ns, "pod": w["pod"], **meta}
        if op == "cordon_node":
            self._need(w, "node")
            node = self._call(self.core.read_node, w["node"])
            labels = dict((node.metadata.labels or {}) if node.metadata else {})
            self.check_protected({"kind": "node", "name": w["node"], "node": w["node"], "labels": labels})
            was = bool(node.spec.unschedulable) if node.spec else False
            self._call(self.core.patch_node, w["node"], {"spec": {"unschedulable": True}}, _content_type=MERGE)
            return {"node": w["node"], "was_unschedulable": was}
        if op == "scale_to_zero":
            self._need(w, "deployment")
            scale = self._call(self.apps.read_namespaced_deployment_scale, w["deployment"], ns)
            prev = int(scale.spec.replicas or 0) if scale.spec else 0
            self._call(self.apps.patch_namespaced_deployment_scale, w["deployment"], ns,
                       {"spec": {"replicas": 0}}, _content_type=MERGE)
            return {"namespace": ns, "deployment": w["deployment"], "previous_replicas": prev}
        if op == "delete_pod":
            self._need(w, "pod")
            self._check_pod(ns, w["pod"])
            self._call(self.core.delete_namespaced_pod, w["pod"], ns)
            return {"namespace": ns, "pod": w["pod"], "deleted": True}
        raise ResponderError(f"unknown operation {op!r}", retryable=False)

    def revert(self, action):
        self._apis()
        op = action.params.get("operation")
        w = action.params.get("where") or {}
        ns = w.get("namespace", "default")
        res = action.result or {}
        if op == "quarantine_pod":
            self._call(self.net.delete_namespaced_network_policy, policy_name(w["pod"]), ns)
            try:
                self._call(self.core.patch_namespaced_pod, w["pod"], ns,
                           {"metadata": {"labels": {QUARANTINE_LABEL: None}}}, _content_type=MERGE)
            except ResponderError as e:
                if "404" not in str(e):   # the pod is gone: nothing left to unlabel
                    raise
            return {"deleted_network_policy": policy_name(w["pod"])}
        if op == "label_pod":
            meta = {k: {name: None for name in (action.params.get(k) or {})} for k in ("labels", "annotations")
                    if action.params.get(k)}
            self._call(self.core.patch_namespaced_pod, w["pod"], ns, {"metadata": meta}, _content_type=MERGE)
            return {"removed": {k: sorted(v) for k, v in meta.items()}}
        if op == "cordon_node":
            if not res.get("was_unschedulable"):
                self._call(self.core.patch_node, w["node"], {"spec": {"unschedulable": False}}, _content_type=MERGE)
            return {"node": w["node"], "uncordoned": not res.get("was_unschedulable")}
        if op == "scale_to_zero":
            prev = int(res.get("previous_replicas", 1))
            self._call(self.apps.patch_namespaced_deployment_scale, w["deployment"], ns,
                       {"spec": {"replicas": prev}}, _content_type=MERGE)
            return {"replicas": prev}
        raise ResponderError(f"{op} cannot be undone", retryable=False)
