"""What the guard reads from a request, validated: one text, or the scorable turns of `messages`.

    parts = prompt_parts({"messages": [{"role": "system", ...}, {"role": "user", "content": "hi"}]})
    -> [Part(text="hi", role="user", index=1)]

A request is a bare string / UTF-8 bytes, or an object with `prompt`, `text`, `input` or
`gen_ai.prompt` (one part each, role "user") and / or `messages` (OpenAI chat): every one present
is scored, the highest score decides. In `messages` the user's turns
and tool / function results (where indirect injections arrive) are scored one by one; system and
developer messages (the application's own instructions) and assistant turns are not: they are
first-party text, and scoring them would deny an application for its own system prompt.
Content may be a string or a list of parts ({"type": "text", "text": ...}); other part types
(images, audio) are skipped. Every problem raises GuardInputError with the reason.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from core.chat import INPUT_ROLES, read_messages

TEXT_FIELDS = ("prompt", "text", "input", "gen_ai.prompt")
SCORED_ROLES = INPUT_ROLES
FIRST_PARTY_ROLES = ("system", "developer", "assistant")


class GuardInputError(ValueError):
    pass


@dataclass(frozen=True)
class Part:
    text: str
    role: str = "user"
    index: int | None = None      # position in `messages`; None for a single prompt


def to_text(value: Any, max_chars: int) -> str:
    """Validate a prompt: str or UTF-8 bytes, not empty, not binary, not over max_chars."""
    if value is None:
        raise GuardInputError("missing prompt")
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        if len(b) > 4 * max_chars:
            raise GuardInputError(f"prompt over {max_chars} characters")
        try:
            value = b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise GuardInputError(f"prompt is not valid UTF-8 (byte {e.start})") from None
    if not isinstance(value, str):
        raise GuardInputError(f"prompt must be text, got {type(value).__name__}")
    if len(value) > max_chars:
        raise GuardInputError(f"prompt over {max_chars} characters ({len(value)})")
    if not value.strip():
        raise GuardInputError("empty prompt")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise GuardInputError("prompt is not valid Unicode (lone surrogates)") from None
    sample = value[:4096]
    ctrl = sum(1 for c in sample if c == "\x00" or (unicodedata.category(c) == "Cc" and c not in "\t\n\r\f\v"))
    if "\x00" in sample or ctrl > max(8, len(sample) // 20):
        raise GuardInputError("prompt looks binary (NUL / control characters)")
    return value


def _message_parts(msgs: Any, max_chars: int) -> list[Part]:
    messages = read_messages(msgs, "messages", GuardInputError)
    if not messages:
        raise GuardInputError("messages is empty")
    parts = [Part(to_text(m.text, max_chars), m.role, m.index)
             for m in messages if m.role in SCORED_ROLES and m.text.strip()]
    if not parts:
        raise GuardInputError("messages has no user, tool or function message with text to score")
    return parts


def prompt_parts(record: Any, max_chars: int) -> list[Part]:
    if isinstance(record, (str, bytes, bytearray, memoryview)):
        return [Part(to_text(record, max_chars))]
    if not isinstance(record, dict):
        raise GuardInputError(f"request must be a JSON object or a string, got {type(record).__name__}")
    # every text the request carries is scored: with `prompt` and `messages` both present, the first
    # alone was, and an injection in the other passed (the gateway may forward either)
    parts = [Part(to_text(record[k], max_chars)) for k in TEXT_FIELDS if record.get(k) is not None]
    if record.get("messages") is not None:
        parts += _message_parts(record["messages"], max_chars)
    if not parts:
        raise GuardInputError("missing prompt field (prompt, text, input or messages)")
    return list({(p.text, p.role, p.index): p for p in parts}.values())     # the same text once


def prompt_text(record: Any) -> str | None:
    """The request's scored text joined (for events and fingerprints); None when there is none."""
    try:
        return "\n".join(p.text for p in prompt_parts(record, 1 << 30))
    except GuardInputError:
        return None
