"""The prompt-injection incident: one end user (a trial account) sends jailbreak / prompt-injection
prompts to llm-chat; its records name it as `end_user` as well as `client_id`."""
from __future__ import annotations

import math
from typing import Iterator

from collectors.scenario.platform import ATTACKER_IP, INFERENCE_FORMAT, INJECTION_CLIENT
from collectors.scenario.prompts import INJECTIONS, REFUSALS, benign_prompt
from collectors.scenario.stream import RecordHeap, stream_rng
from collectors.scenario.timeline import iso


def gen_prompt_injection(seed: int, windows: dict) -> Iterator:
    inj = windows.get("prompt-injection")
    out = RecordHeap()
    if inj:
        irng = stream_rng(seed, "incident/prompt-injection")
        t = inj[0] + irng.randrange(0, 30)
        i = 0
        while t < inj[1]:
            if irng.random() < 0.8:
                prompt = INJECTIONS[i % len(INJECTIONS)] if i < len(INJECTIONS) else irng.choice(INJECTIONS)
                output = irng.choice(REFUSALS)
                i += 1
            else:
                prompt, output = benign_prompt(irng)
            tin = max(8, len(prompt) // 4)
            tout = max(8, len(output) // 4)
            out.add(t, INFERENCE_FORMAT, {
                "schema": "warden.inference", "time": iso(t, micro=True), "model": "llm-chat",
                "model_version": "2024.5", "client_id": INJECTION_CLIENT, "end_user": INJECTION_CLIENT,
                "api_key_id": "key-trial-3187",
                "client_ip": ATTACKER_IP.replace(".77", ".91"),
                "request_id": f"req-{irng.getrandbits(48):012x}", "prompt": prompt, "output": output,
                "latency_ms": round(700 + 12 * tout * math.exp(irng.gauss(0, 0.1)), 1),
                "input_tokens": tin, "output_tokens": tout})
            t += irng.randrange(40, 100) + irng.randrange(1000) / 1000.0
    yield from out.drain()
