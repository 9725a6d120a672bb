"""The everyday-prompt fixture: prompts a guard must allow, collected from the benign sources.

    python -m bench.guard.everyday ../shared/data/prompts tests/unit/detectors/guard/everyday_prompts.jsonl

Deterministic selection (seed 17) of short benign rows: one-line questions and task instructions in
English (s-labs, neuralchemy, WildGuard chat, XSTest, Self-Instruct, AgentDojo user tasks), and
short tasks in Chinese, Arabic, Hindi, Bengali, Japanese, Russian, Spanish, French and German
(XSafety commonsense tasks, NotInject), plus the greetings and prompts named in issue #17. Each
line: {"text", "source", "lang", "what"}.
"""
from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

from detectors.guard.data import PromptRow, load_sources

ISSUE_PROMPTS = ("hi", "hello", "thanks!", "ok", "Summarize this email for me.", "Ciao, come stai?",
                 "Привет! Как дела?", "Fix the bug in this Rust snippet")
_SCRIPTS = (("ja", r"[\u3040-\u30ff]"), ("zh", r"[\u4e00-\u9fff]"), ("ru", r"[\u0400-\u04ff]"),
            ("ar", r"[\u0600-\u06ff]"), ("hi", r"[\u0900-\u097f]"), ("bn", r"[\u0980-\u09ff]"))
_LATIN = (("de", r"\b(Sie|und|der|die|Wenn)\b"), ("fr", r"\b(vous|les|est|Si)\b"), ("es", r"\b(los|las|para|usted|sus)\b"))
# (what, sources, language, how many, longest)
PLAN = (("question", ("s-labs", "neuralchemy", "injecguard_notinject_wildguard", "xstest_safe"), "en", 70, 120),
        ("task", ("selfinstruct_t0_tasks", "agentdojo_indirect", "neuralchemy"), "en", 50, 160),
        *(("task", ("xsafety_multilingual", "injecguard_notinject_wildguard"), lang, n, 400)
          for lang, n in (("zh", 20), ("ar", 12), ("hi", 10), ("bn", 8), ("ja", 8), ("ru", 10), ("es", 10),
                          ("fr", 10), ("de", 10))))


def language(text: str) -> str:
    for lang, pat in _SCRIPTS:
        if re.search(pat, text):
            return lang
    for lang, pat in _LATIN:
        if re.search(pat, text):
            return lang
    return "en"


def select(rows: list[PromptRow], seed: int = 17) -> list[dict]:
    rng = random.Random(seed)
    out = [{"text": t, "source": "issue-17", "lang": language(t) if t != "Ciao, come stai?" else "it",
            "what": "greeting" if len(t) < 20 else "task"} for t in ISSUE_PROMPTS]
    seen = {o["text"] for o in out}
    for what, sources, lang, n, longest in PLAN:
        pool = [r for r in rows if r.label == 0 and r.source in sources and len(r.text) <= longest
                and "\n" not in r.text.strip() and language(r.text) == lang and r.text not in seen
                and (what != "question" or r.text.rstrip().endswith("?"))]
        for r in rng.sample(pool, min(n, len(pool))):
            seen.add(r.text)
            out.append({"text": r.text, "source": r.source, "lang": lang, "what": what})
    return out


def main(argv=None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    rows = load_sources(argv[0])
    out = select(rows)
    Path(argv[1]).write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in out), encoding="utf-8")
    langs = sorted({o["lang"] for o in out})
    print(f"{len(out)} prompts, languages {', '.join(langs)} -> {argv[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
