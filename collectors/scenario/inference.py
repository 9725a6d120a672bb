"""Sampled inference request records (format `warden-inference`): benign chat prompts for
`llm-chat`, tabular fraud features for `fraud-scorer` (slower after release 2024.6; request amounts
4x during the feature drift)."""
from __future__ import annotations

import math
import random
from typing import Iterator

from collectors.scenario.platform import INFERENCE_FORMAT, INJECTION_CLIENT
from collectors.scenario.prompts import benign_prompt
from collectors.scenario.stream import RecordHeap, daily_load, poisson, stream_rng
from collectors.scenario.timeline import DRIFT_FACTOR, LATENCY_FACTOR, iso

_CLIENTS = (("web-frontend", "key-web-01", 0.45), ("mobile-app", "key-mob-02", 0.30),
            ("support-bot", "key-sup-03", 0.20), (INJECTION_CLIENT, "key-trial-3187", 0.05))
_MERCHANTS = ("grocery", "fuel", "electronics", "travel", "restaurants", "online_retail")
_COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA")


def _pick_client(rng: random.Random) -> tuple[str, str]:
    r = rng.random()
    for cid, key, w in _CLIENTS:
        if r < w:
            return cid, key
        r -= w
    return _CLIENTS[0][0], _CLIENTS[0][1]


def gen_inference(seed: int, t0: float, dur: float, windows: dict) -> Iterator:
    out = RecordHeap()
    rng = stream_rng(seed, "inference")
    slow = windows.get("latency-regression")
    drift = windows.get("feature-drift")
    for m in range(int(dur // 60)):
        base = t0 + m * 60
        for _ in range(poisson(rng, 2.0 * daily_load(base))):
            tt = base + rng.randrange(60000) / 1000.0
            cid, key = _pick_client(rng)
            prompt, output = benign_prompt(rng)
            tin = max(8, len(prompt) // 4 + rng.randrange(0, 6))
            tout = max(8, len(output) // 4 + rng.randrange(20, 300))
            out.add(tt, INFERENCE_FORMAT, {
                "schema": "warden.inference", "time": iso(tt, micro=True), "model": "llm-chat",
                "model_version": "2024.5", "client_id": cid, "api_key_id": key,
                "request_id": f"req-{rng.getrandbits(48):012x}", "prompt": prompt, "output": output,
                "latency_ms": round(900 + 12 * tout * math.exp(rng.gauss(0, 0.1)), 1),
                "input_tokens": tin, "output_tokens": tout})
        for _ in range(poisson(rng, 2.0 * daily_load(base))):
            tt = base + rng.randrange(60000) / 1000.0
            amount = round(math.exp(rng.gauss(3.6, 1.0)), 2)
            if drift and drift[0] <= tt < drift[1]:
                amount = round(amount * DRIFT_FACTOR, 2)
            merchant = rng.choice(_MERCHANTS)
            country = rng.choice(_COUNTRIES)
            card_present = rng.random() < 0.6
            score = 1 / (1 + math.exp(-(-4.2 + 0.6 * (amount > 500) + 0.8 * (merchant == "online_retail")
                                        + 0.5 * (not card_present) + rng.gauss(0, 0.7))))
            lat = 28.0 * math.exp(rng.gauss(0, 0.15))
            version = "2024.5"
            if slow and slow[0] <= tt < slow[1]:
                lat *= LATENCY_FACTOR
                version = "2024.6"
            out.add(tt, INFERENCE_FORMAT, {
                "schema": "warden.inference", "time": iso(tt, micro=True), "model": "fraud-scorer",
                "model_version": version, "client_id": "payments-api", "api_key_id": "key-pay-01",
                "request_id": f"req-{rng.getrandbits(48):012x}",
                "features": {"amount": amount, "merchant_category": merchant, "country": country,
                             "card_present": card_present, "hour": int((tt % 86400) // 3600),
                             "distance_from_home_km": round(math.exp(rng.gauss(2.0, 1.2)), 1),
                             "tx_count_24h": poisson(rng, 3.0),
                             "account_age_days": int(math.exp(rng.gauss(6.0, 1.0))),
                             "avg_amount_30d": round(math.exp(rng.gauss(3.6, 0.6)), 2)},
                "prediction": "fraud" if score > 0.5 else "legit", "probability": round(score, 4),
                "latency_ms": round(lat, 2)})
        yield from out.drain(base + 60)
    yield from out.drain()
