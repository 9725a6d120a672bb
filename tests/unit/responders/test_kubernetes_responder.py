"""The kubernetes responder against a local fake API server (http.server on 127.0.0.1): every
client call is checked for method, path, content type and body; each operation and its undo."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from policy.safety import Protected
from core.event import Alert
from responders.base import ProtectedResourceError, ResponderError
from responders.kubernetes import QUARANTINE_LABEL, KubernetesResponder

POD = "/api/v1/namespaces/ml/pods/pod-a"
NODE = "/api/v1/nodes/gpu-node-1"
SCALE = "/apis/apps/v1/namespaces/ml/deployments/llm/scale"
NETPOLS = "/apis/networking.k8s.io/v1/namespaces/ml/networkpolicies"


def merge(dst, patch):
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            merge(dst[k], v)
        else:
            dst[k] = v
    return dst


class FakeApi:
    def __init__(self) -> None:
        self.objects = {
            POD: {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod-a", "namespace": "ml", "labels": {"app": "llm"}},
                  "spec": {"nodeName": "gpu-node-1", "containers": [{"name": "srv", "image": "vllm:1"}]}},
            NODE: {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "gpu-node-1", "labels": {}}, "spec": {}},
            SCALE: {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "llm", "namespace": "ml"},
                    "spec": {"replicas": 3}},
        }
        self.requests: list[tuple[str, str, str, object]] = []
        api = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(n)) if n else None

            def handle_one(self, method):
                path = self.path.split("?")[0]
                body = self._body() if method in ("POST", "PATCH", "PUT") else None
                api.requests.append((method, path, self.headers.get("Content-Type", ""), body))
                if method == "GET" and path in api.objects:
                    return self._send(200, api.objects[path])
                if method == "PATCH" and path in api.objects:
                    return self._send(200, merge(api.objects[path], body))
                if method == "POST" and path == NETPOLS:
                    name = body["metadata"]["name"]
                    api.objects[f"{NETPOLS}/{name}"] = body
                    return self._send(201, body)
                if method == "DELETE" and path in api.objects:
                    obj = api.objects.pop(path)
                    return self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
                                      if "networkpolicies" in path else obj)
                return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                                        "reason": "NotFound"})

            def do_GET(self):
                self.handle_one("GET")

            def do_PATCH(self):
                self.handle_one("PATCH")

            def do_POST(self):
                self.handle_one("POST")

            def do_DELETE(self):
                self.handle_one("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    a = FakeApi()
    yield a
    a.close()


@pytest.fixture
def k8s(api):
    r = KubernetesResponder("kubernetes/t", host=api.url, timeout_s=5.0)
    r.safety_check = Protected().reason
    yield r
    r.close()


def alert(**labels):
    return Alert(id="a" * 32, rule="k8s-exec", title="exec into pod", severity="high", entity="system:serviceaccount:x",
                 group_key="g", status="firing", first_seen=0.0, last_seen=0.0,
                 labels={"namespace": "ml", "pod": "pod-a", "node": "gpu-node-1", "deployment": "llm", **labels})


def plan(r, a, **params):
    [act] = r.plan(a, {"responder": r.name, "dry_run": False, "params": params})
    return act


def test_quarantine_pod_creates_deny_all_network_policy_and_undo_removes_it(api, k8s):
    a = alert()
    act = plan(k8s, a, operation="quarantine_pod")
    assert act.target == "pod/ml/pod-a" and act.params["resource"] == {"kind": "pod", "name": "pod-a", "node": "gpu-node-1", "namespace": "ml"}
    res = k8s.execute(act, a)
    token = act.id[:16]
    assert res == {"namespace": "ml", "pod": "pod-a", "network_policy": "warden-quarantine-pod-a", "label": token}
    assert [(m, p) for m, p, _, _ in api.requests] == [("GET", POD), ("PATCH", POD), ("POST", NETPOLS)]
    _, _, ctype, patch = api.requests[1]
    assert ctype == "application/merge-patch+json" and patch == {"metadata": {"labels": {QUARANTINE_LABEL: token}}}
    _, _, _, np = api.requests[2]
    assert np == {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                  "metadata": {"name": "warden-quarantine-pod-a", "namespace": "ml",
                               "labels": {"app.kubernetes.io/managed-by": "warden", QUARANTINE_LABEL: token}},
                  "spec": {"podSelector": {"matchLabels": {QUARANTINE_LABEL: token}},
                           "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}}
    assert api.objects[POD]["metadata"]["labels"][QUARANTINE_LABEL] == token
    api.requests.clear()
    import dataclasses
    done = dataclasses.replace(act, status="done", result=res)
    assert k8s.revert(done) == {"deleted_network_policy": "warden-quarantine-pod-a"}
    assert [(m, p) for m, p, _, _ in api.requests] == [("DELETE", f"{NETPOLS}/warden-quarantine-pod-a"), ("PATCH", POD)]
    assert api.requests[1][3] == {"metadata": {"labels": {QUARANTINE_LABEL: None}}}
    assert QUARANTINE_LABEL not in api.objects[POD]["metadata"]["labels"]
    assert f"{NETPOLS}/warden-quarantine-pod-a" not in api.objects


def test_protected_pod_label_is_never_touched(api, k8s):
    api.objects[POD]["metadata"]["labels"]["warden.io/protected"] = "true"
    act = plan(k8s, alert(), operation="quarantine_pod")
    with pytest.raises(ProtectedResourceError, match="protected label"):
        k8s.execute(act, alert())
    assert [m for m, *_ in api.requests] == ["GET"]                     # read only, nothing changed


def test_label_cordon_scale_and_their_undo(api, k8s):
    import dataclasses
    a = alert()
    lab = plan(k8s, a, operation="label_pod", labels={"warden.io/suspect": "true"}, annotations={"warden.io/alert": "x"})
    res = k8s.execute(lab, a)
    assert api.objects[POD]["metadata"]["labels"]["warden.io/suspect"] == "true"
    assert api.objects[POD]["metadata"]["annotations"] == {"warden.io/alert": "x"}
    k8s.revert(dataclasses.replace(lab, status="done", result=res))
    assert "warden.io/suspect" not in api.objects[POD]["metadata"]["labels"]
    assert api.objects[POD]["metadata"]["annotations"] == {}

    cordon = plan(k8s, a, operation="cordon_node")
    assert cordon.target == "node/gpu-node-1"
    res = k8s.execute(cordon, a)
    assert api.objects[NODE]["spec"]["unschedulable"] is True and res["was_unschedulable"] is False
    api.requests.clear()
    k8s.revert(dataclasses.replace(cordon, status="done", result=res))
    assert api.requests == [("PATCH", NODE, "application/merge-patch+json", {"spec": {"unschedulable": False}})]

    scale = plan(k8s, a, operation="scale_to_zero")
    res = k8s.execute(scale, a)
    assert res["previous_replicas"] == 3 and api.objects[SCALE]["spec"]["replicas"] == 0
    k8s.revert(dataclasses.replace(scale, status="done", result=res))
    assert api.objects[SCALE]["spec"]["replicas"] == 3


def test_delete_pod_has_no_undo_and_errors_are_classified(api, k8s):
    import dataclasses
    a = alert()
    d = plan(k8s, a, operation="delete_pod")
    assert k8s.execute(d, a)["deleted"] is True and POD not in api.objects
    with pytest.raises(ResponderError, match="cannot be undone"):
        k8s.revert(dataclasses.replace(d, status="done"))
    with pytest.raises(ResponderError) as e:                           # the pod is gone now: 404, not retryable
        k8s.execute(plan(k8s, a, operation="quarantine_pod"), a)
    assert "404" in str(e.value) and not e.value.retryable


def test_unreachable_api_is_retryable():
    r = KubernetesResponder("kubernetes/t", host="http://127.0.0.1:1", timeout_s=1.0)
    with pytest.raises(ResponderError) as e:
        r.execute(plan(r, alert(), operation="cordon_node"), alert())
    assert e.value.retryable


def test_route_params_are_checked_at_policy_load():
    from core.errors import ConfigError
    with pytest.raises(ConfigError, match="operation must be one of"):
        KubernetesResponder.check_route({"operation": "nuke"}, "p.routes[0]")
    with pytest.raises(ConfigError, match="needs parameter 'operation'"):
        KubernetesResponder.check_route({}, "p.routes[0]")
    with pytest.raises(ConfigError, match="label_pod needs"):
        KubernetesResponder.check_route({"operation": "label_pod"}, "p.routes[0]")
