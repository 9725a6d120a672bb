"""The simulated AI platform of the scenario: its account, cluster, nodes, endpoints and buckets,
the attacker's identities, and the formats its records come in."""
from __future__ import annotations

EVENT_FORMAT = "event"
CLOUDTRAIL_FORMAT = "cloudtrail"
K8S_FORMAT = "k8s-audit"
INFERENCE_FORMAT = "warden-inference"

ACCOUNT = "123456789012"
REGION = "us-east-1"
CLUSTER = "ml-prod"
JOB = "llama-ft"
NODES = ("gpu-node-1", "gpu-node-2", "gpu-node-3", "gpu-node-4")
NODE_IPS = {n: f"10.0.1.{11 + i}" for i, n in enumerate(NODES)}
ENDPOINTS = ("llm-chat", "fraud-scorer")
DATASETS_BUCKET = "acme-datasets"
WEIGHTS_BUCKET = "acme-model-weights"
GIB = 1024 ** 3

ATTACKER_IP = "203.0.113.77"
NEW_PRINCIPAL = "backup-svc"
BRUTE_USER = "alice"
INJECTION_CLIENT = "trial-user-3187"

LEAK_NODE, STRAGGLER_NODE, SLOW_ENDPOINT = "gpu-node-3", "gpu-node-2", "fraud-scorer"
