"""The bundled incident scenario: a small AI platform over a few simulated hours, deterministic.

`generate(seed, hours, ...)` returns `(format, record)` pairs in time order (`iter_records(...)`
yields the same pairs lazily, for long runs); the same arguments give byte-identical output (every
stream has its own seeded `random.Random`, times start at a fixed instant, ids are content
hashes). `ground_truth(...)` describes each injected incident; `write_file(path, ...)` dumps the
scenario as replayable envelope JSON lines (`warden replay FILE` reads them). The
collector type `scenario` (bounded) parses every pair with `collectors.formats.parse_record` and
emits the events; records whose format is not available go to the dead letters with the reason.

The platform (account 123456789012, us-east-1, Kubernetes cluster "ml-prod"):

- 4 GPU nodes `gpu-node-1..4` (one H100 80GB each is sampled, `gpu.index` 0) running one
  data-parallel training job `llama-ft`. Metrics per node every `step_seconds`:
  `gpu.memory.used` (bytes), `gpu.utilization` (0..1), `gpu.temperature` (Celsius),
  `gpu.xid.errors` (count per interval, 0 in this scenario), `training.step.duration` (seconds).
- 2 inference endpoints `llm-chat` and `fraud-scorer`: `http.server.request.duration` (p95, s),
  `http.server.request.count` and `http.server.request.errors` (per interval), with a daily-ish
  load curve (lowest around 03:00 UTC), plus sampled request records (format `warden-inference`):
  benign chat prompts for `llm-chat`, tabular features for `fraud-scorer`.
- audit: CloudTrail records (format `cloudtrail`): training pods (IRSA role sessions named after the
  pod, AssumeRoleWithWebIdentity hourly) reading training data and writing checkpoints, a serving
  role reading a weights manifest, engineers (console login with MFA, Describe/List/GetObject) and
  a CI user (ECR token, DescribeInstances); Kubernetes audit events (format `k8s-audit`):
  get/list/watch by service accounts.

Metric records are warden Events in wire form (format `event`, core.codec.to_dict) with
`observed_time == time`, so ids and bytes are stable.

Injected incidents (times are fractions of the run, so the defaults give the timeline below for 6 h;
the first third of any run, 2 h by default, is incident-free and so is everything not listed):

| id | what | entity | default time | detector family |
|---|---|---|---|---|
| gpu-memory-leak | gpu.memory.used +2.5 %/10 min, then the process restarts | gpu-node-3 | 02:30-04:00 | metrics |
| console-bruteforce | 24 failed ConsoleLogin from 203.0.113.77, then a success | alice | 02:45-02:53 | sigma |
| new-principal-exfiltration | new IAM user backup-svc: CreateAccessKey, ~150 GetObject on acme-model-weights | backup-svc | 02:55-03:25 | sigma |
| training-straggler | training.step.duration 1.6x its peers | gpu-node-2 | 03:20-04:20 | metrics |
| prompt-injection | one client sends jailbreak / prompt-injection prompts | llm-chat | 03:45-04:15 | guard |
| latency-regression | http.server.request.duration 3x after release 2024.6 | fraud-scorer | 04:30-end | metrics |

One module per concept:

| module | what |
|---|---|
| `platform` | the simulated platform: account, cluster, nodes, endpoints, buckets, the attacker |
| `timeline` | run defaults, the incident schedule, `ground_truth()`, time parsing |
| `stream` | what every stream generator uses: record heap, seeded randomness, load curve |
| `metrics` | GPU node and endpoint metrics (the leak, the straggler, the latency regression) |
| `cloudtrail` | CloudTrail records of normal activity, and the record builders |
| `account_takeover` | console brute force, then the new principal's exfiltration (CloudTrail) |
| `k8s_audit` | Kubernetes audit events of the service accounts |
| `prompts` | prompt texts: benign tasks, injections, refusals |
| `inference` | sampled inference request records of both endpoints |
| `prompt_injection` | the prompt-injection client's records |
| `records` | the streams merged in time order: `iter_records`, `generate`, `write_file` |
| `collector` | the `scenario` collector |
"""
from __future__ import annotations

from collectors.scenario.collector import ScenarioCollector
from collectors.scenario.platform import (ACCOUNT, ATTACKER_IP, BRUTE_USER, CLOUDTRAIL_FORMAT, CLUSTER, DATASETS_BUCKET,
                                          ENDPOINTS, EVENT_FORMAT, GIB, INFERENCE_FORMAT, INJECTION_CLIENT, JOB,
                                          K8S_FORMAT, LEAK_NODE, NEW_PRINCIPAL, NODE_IPS, NODES, REGION,
                                          SLOW_ENDPOINT, STRAGGLER_NODE, WEIGHTS_BUCKET)
from collectors.scenario.records import SOURCE, generate, iter_records, write_file
from collectors.scenario.timeline import (DEFAULT_HOURS, DEFAULT_SEED, DEFAULT_START, DEFAULT_STEP, LATENCY_FACTOR,
                                          LEAK_RATE_PER_10MIN, MAX_HOURS, STRAGGLER_FACTOR, ground_truth, iso,
                                          parse_start)

__all__ = [
    "ACCOUNT", "ATTACKER_IP", "BRUTE_USER", "CLOUDTRAIL_FORMAT", "CLUSTER", "DATASETS_BUCKET", "DEFAULT_HOURS",
    "DEFAULT_SEED", "DEFAULT_START", "DEFAULT_STEP", "ENDPOINTS", "EVENT_FORMAT", "GIB", "INFERENCE_FORMAT",
    "INJECTION_CLIENT", "JOB", "K8S_FORMAT", "LATENCY_FACTOR", "LEAK_NODE", "LEAK_RATE_PER_10MIN", "MAX_HOURS",
    "NEW_PRINCIPAL", "NODES", "NODE_IPS", "REGION", "SLOW_ENDPOINT", "SOURCE", "STRAGGLER_FACTOR", "STRAGGLER_NODE",
    "ScenarioCollector", "WEIGHTS_BUCKET", "generate", "ground_truth", "iso", "iter_records", "parse_start",
    "write_file",
]
