"""OpenAI-style chat message content as text: one reading for every door that takes `messages`
(the inference collectors and the inline prompt guard)."""
from __future__ import annotations

from typing import Any, NamedTuple

# roles whose text comes from outside the application (the end user, a tool's output): the text a
# prompt-injection guard scores and the collectors record as the prompt
INPUT_ROLES = ("user", "tool", "function")
# roles the application itself writes
INSTRUCTION_ROLES = ("system", "developer")


class Message(NamedTuple):
    index: int
    role: str
    text: str


def content_text(content: Any, where: str, error: type[Exception] = ValueError) -> str:
    """The text of a message's `content`: a string, or a list of parts whose strings and objects'
    `text` are joined by newlines (any part type: text the model is shown must be read, whatever
    the part is called; parts without text, such as images, add nothing); "" for no content.
    Anything else raises `error` with `where` and the reason."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise error(f"{where}.content must be a string or a list of parts, got {type(content).__name__}")
    texts = []
    for p in content:
        if isinstance(p, str):
            texts.append(p)
        elif isinstance(p, dict):
            t = p.get("text")
            if t is not None and not isinstance(t, str):
                raise error(f"{where}.content: a part's text must be a string")
            if t is not None:
                texts.append(t)
        else:
            raise error(f"{where}.content parts must be objects or strings")
    return "\n".join(texts)


def read_messages(msgs: Any, where: str, error: type[Exception] = ValueError) -> list[Message]:
    """Each message of an OpenAI-style `messages` list, checked: a list of objects, each with a
    string `role`; its content read by `content_text`. Anything else raises `error` naming
    `where` (e.g. "messages") and the reason."""
    if not isinstance(msgs, list):
        raise error(f"{where} must be a list")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise error(f"{where}[{i}] must be an object")
        role = m.get("role")
        if not isinstance(role, str):
            raise error(f"{where}[{i}].role must be a string")
        out.append(Message(i, role, content_text(m.get("content"), f"{where}[{i}]", error)))
    return out
