"""deploy/k8s: every manifest deserializes into the official Kubernetes client model of its kind
and round-trips without losing a field (a misspelt field would vanish), plus the checks that
matter: least-privilege RBAC, hardened pods, secrets from the Secret, a config warden accepts."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

kubernetes = pytest.importorskip("kubernetes")
from kubernetes.client import ApiClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
STAGES = ("collect", "detect", "decide", "act")


def docs():
    out = []
    for f in sorted(K8S.glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if d:
                out.append((f.name, d))
    return out


def model(d):
    version = d["apiVersion"].split("/")[-1].capitalize()
    return f"{version}{d['kind']}"


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if v is not None and v != {} and v != []}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


def test_every_manifest_deserializes_and_round_trips():
    api = ApiClient()
    seen = set()
    for name, d in docs():
        obj = api._ApiClient__deserialize(d, model(d))
        assert obj is not None and obj.metadata.name, name
        back = api.sanitize_for_serialization(obj)
        assert _strip(back) == _strip(d), f"{name}: {d['kind']} {d['metadata']['name']} loses or changes fields"
        seen.add(d["kind"])
    assert {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Secret",
            "Deployment", "Service", "NetworkPolicy"} <= seen


def by_kind(kind):
    return [d for _, d in docs() if d["kind"] == kind]


def test_rbac_is_limited_to_what_the_responders_need():
    (role,) = by_kind("ClusterRole")
    allowed = {("networking.k8s.io", "networkpolicies"): {"create", "delete"},
               ("", "pods"): {"get", "patch", "delete"},
               ("", "nodes"): {"get", "patch"},
               ("apps", "deployments/scale"): {"get", "patch"}}
    got = {}
    for r in role["rules"]:
        for g in r["apiGroups"]:
            for res in r["resources"]:
                got.setdefault((g, res), set()).update(r["verbs"])
    assert got == allowed
    assert not any("*" in v for r in role["rules"] for v in r["verbs"] + r["resources"] + r["apiGroups"])
    (binding,) = by_kind("ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "warden-responder", "namespace": "warden"}]


def test_one_hardened_deployment_per_stage():
    deps = {d["metadata"]["name"]: d for d in by_kind("Deployment")}
    assert set(deps) == {f"warden-{s}" for s in STAGES}
    secret = by_kind("Secret")[0]
    for s in STAGES:
        d = deps[f"warden-{s}"]
        spec = d["spec"]["template"]["spec"]
        assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        (c,) = spec["containers"]
        assert c["args"][-2:] == ["--stage", s]
        sc = c["securityContext"]
        assert sc["runAsNonRoot"] and sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"]
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
        # only the act stage talks to the Kubernetes API
        assert spec["serviceAccountName"] == ("warden-responder" if s == "act" else "warden")
        assert spec["automountServiceAccountToken"] is (s == "act")
        mounts = {m["name"] for m in c["volumeMounts"]}
        assert mounts <= {v["name"] for v in spec["volumes"]}
        assert "env" not in c or all("value" not in e or "PASSWORD" not in e["name"] for e in c["env"])


def test_config_map_is_a_valid_warden_config_without_secrets(monkeypatch):
    from agent.config import parse
    for var in ("WARDEN_BUS", "WARDEN_STORE", "WARDEN_HTTP_TOKEN", "WARDEN_ES_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    (cm,) = by_kind("ConfigMap")
    text = cm["data"]["warden.yaml"]
    cfg = parse(yaml.safe_load(text), "configmap")
    assert cfg.bus.type == "kafka" and cfg.pipeline.state == "kafka" and cfg.http.tls_cert
    assert cfg.http.token is None and cfg.store.api_key is None      # secrets come from the Secret
    for word in ("password", "api_key:", "token:"):
        assert word not in text.lower()
    secret = by_kind("Secret")[0]
    assert {"WARDEN_HTTP_TOKEN", "WARDEN_ES_API_KEY", "WARDEN_KAFKA_SASL_PASSWORD"} <= set(secret["stringData"])


def test_dockerfile_runs_as_the_manifests_user():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "USER 10001" in text and 'ENTRYPOINT ["warden"]' in text
    for d in by_kind("Deployment"):
        assert d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsUser"] == 10001
