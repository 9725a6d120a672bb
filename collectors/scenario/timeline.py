"""When things happen in the scenario: the run's defaults, the incident schedule (fractions of the
run) and `ground_truth()`, which describes each injected incident; time parsing and formatting."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from core import names
from core.times import iso_to_epoch
from collectors.scenario.platform import (ACCOUNT, ATTACKER_IP, BRUTE_USER, CLOUDTRAIL_FORMAT, EVENT_FORMAT,
                                          INFERENCE_FORMAT, INJECTION_CLIENT, JOB, LEAK_NODE, NEW_PRINCIPAL, NODES,
                                          SLOW_ENDPOINT, STRAGGLER_NODE, WEIGHTS_BUCKET)

DEFAULT_SEED = 7
DEFAULT_HOURS = 6.0
DEFAULT_START = "2026-01-05T00:00:00Z"
DEFAULT_STEP = 60
MAX_HOURS = 24 * 31

# incident schedule as fractions of the run (6 h: hours below)
_FRAC = {
    "gpu-memory-leak": (2.5 / 6, 4.0 / 6),
    "console-bruteforce": (2.75 / 6, (2.75 + 8 / 60) / 6),
    "new-principal-exfiltration": ((2 + 55 / 60) / 6, (3 + 25 / 60) / 6),
    "training-straggler": ((3 + 20 / 60) / 6, (4 + 20 / 60) / 6),
    "prompt-injection": (3.75 / 6, 4.25 / 6),
    "latency-regression": (4.5 / 6, 1.0),
    "feature-drift": (3.0 / 6, 4.25 / 6),
}
LEAK_RATE_PER_10MIN = 0.025      # of the node's normal memory use
STRAGGLER_FACTOR = 1.6
LATENCY_FACTOR = 3.0
DRIFT_FACTOR = 4.0               # fraud-scorer request amounts during the feature drift
DRIFT_ENDPOINT, DRIFT_FEATURE = "fraud-scorer", "amount"


def parse_start(start: str | float | int) -> float:
    if isinstance(start, (int, float)) and not isinstance(start, bool):
        return float(start)
    if not isinstance(start, str):
        raise ValueError(f"start must be an ISO-8601 time or epoch seconds, got {start!r}")
    try:
        return iso_to_epoch(start)
    except ValueError:
        raise ValueError(f"start: not an ISO-8601 time: {start!r}") from None


def iso(t: float, micro: bool = False) -> str:
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    if micro:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(name: str, t0: float, duration: float) -> tuple[float, float]:
    a, b = _FRAC[name]
    return t0 + round(a * duration), t0 + round(b * duration)


def ground_truth(seed: int = DEFAULT_SEED, hours: float = DEFAULT_HOURS, start: str | float = DEFAULT_START,
                 step_seconds: int = DEFAULT_STEP, incidents: bool = True) -> list[dict[str, Any]]:
    """The injected incidents: id, kind, entity, start, end (epoch s), family, stream details.

    `entity` is the Event entity the incident shows on (node, endpoint, or the principal ARN for
    CloudTrail); `family` is the detector family expected to find it (detectors/<family>).
    The schedule does not depend on the seed.
    """
    if not incidents:
        return []
    t0 = parse_start(start)
    dur = float(hours) * 3600.0

    def w(name):
        return _window(name, t0, dur)

    arn = f"arn:aws:iam::{ACCOUNT}:user/"
    out = []
    s, e = w("gpu-memory-leak")
    out.append(dict(id="gpu-memory-leak", kind="gpu_memory_leak", entity=LEAK_NODE, start=s, end=e,
                    family="metrics", format=EVENT_FORMAT, metric=names.GPU_MEMORY_USED, direction="up",
                    description=f"{names.GPU_MEMORY_USED} on {LEAK_NODE} grows "
                                f"{LEAK_RATE_PER_10MIN:.1%} of normal per 10 min, then the trainer restarts"))
    s, e = w("console-bruteforce")
    out.append(dict(id="console-bruteforce", kind="console_login_bruteforce", entity=arn + BRUTE_USER,
                    start=s, end=e, family="sigma", format=CLOUDTRAIL_FORMAT, source_ip=ATTACKER_IP,
                    event_name="ConsoleLogin", failures=24,
                    description=f"24 failed ConsoleLogin for {BRUTE_USER} from {ATTACKER_IP}, then a success"))
    s, e = w("new-principal-exfiltration")
    out.append(dict(id="new-principal-exfiltration", kind="new_principal_exfiltration",
                    entity=arn + NEW_PRINCIPAL, start=s, end=e, family="sigma", format=CLOUDTRAIL_FORMAT,
                    source_ip=ATTACKER_IP, bucket=WEIGHTS_BUCKET, principal=NEW_PRINCIPAL,
                    event_names=["CreateUser", "CreateAccessKey", "ListBuckets", "GetObject"],
                    description=f"{BRUTE_USER} (from {ATTACKER_IP}) creates IAM user {NEW_PRINCIPAL}, which "
                                f"creates an access key and downloads checkpoints from {WEIGHTS_BUCKET}"))
    s, e = w("training-straggler")
    out.append(dict(id="training-straggler", kind="training_straggler", entity=STRAGGLER_NODE, start=s, end=e,
                    family="metrics", format=EVENT_FORMAT, metric=names.TRAIN_STEP_DURATION, direction="up",
                    peers=[n for n in NODES if n != STRAGGLER_NODE], job=JOB,
                    description=f"{names.TRAIN_STEP_DURATION} on {STRAGGLER_NODE} is "
                                f"{STRAGGLER_FACTOR}x its peers'"))
    s, e = w("prompt-injection")
    out.append(dict(id="prompt-injection", kind="prompt_injection", entity="llm-chat", start=s, end=e,
                    family="guard", format=INFERENCE_FORMAT, client_id=INJECTION_CLIENT,
                    # the injected prompts get short refusals: llm-chat's output tokens drift as well
                    also=[{"family": "drift", "entity": "llm-chat", "feature": "output:output_tokens"}],
                    description=f"client {INJECTION_CLIENT} sends prompt-injection / jailbreak prompts"))
    s, e = w("latency-regression")
    out.append(dict(id="latency-regression", kind="latency_regression", entity=SLOW_ENDPOINT, start=s, end=e,
                    family="metrics", format=EVENT_FORMAT, metric=names.HTTP_SERVER_DURATION, direction="up",
                    description=f"{names.HTTP_SERVER_DURATION} on {SLOW_ENDPOINT} is {LATENCY_FACTOR}x "
                                "after release 2024.6"))
    s, e = w("feature-drift")
    out.append(dict(id="feature-drift", kind="feature_drift", entity=DRIFT_ENDPOINT, start=s, end=e,
                    family="drift", format=INFERENCE_FORMAT, feature=DRIFT_FEATURE, factor=DRIFT_FACTOR,
                    action="retrain",
                    description=f"request feature {DRIFT_FEATURE!r} of {DRIFT_ENDPOINT} is {DRIFT_FACTOR:g}x its "
                                "usual size (a new merchant mix): drift, then a (dry-run) retraining request"))
    return out

