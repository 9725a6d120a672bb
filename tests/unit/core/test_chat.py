"""core.chat.content_text: the one reading of chat message content (collectors and the guard)."""
import re

import pytest

from core.chat import content_text, read_messages


class Refused(ValueError):
    pass


@pytest.mark.parametrize("content,want", [
    (None, ""),
    ("hi", "hi"),
    (["a", {"type": "text", "text": "b"}], "a\nb"),
    ([{"type": "input_text", "text": "x"}, {"type": "image_url", "image_url": {"url": "u"}}], "x"),
    ([{"type": "refusal", "text": "hidden instruction"}], "hidden instruction"),   # any part's text is read
    ([], ""),
])
def test_content_text(content, want):
    assert content_text(content, "messages[0]") == want


@pytest.mark.parametrize("content,reason", [
    (42, "must be a string or a list of parts"),
    ([{"type": "text", "text": 7}], "text must be a string"),
    ([3], "parts must be objects or strings"),
])
def test_bad_content_raises_the_callers_error(content, reason):
    with pytest.raises(Refused, match=reason) as e:
        content_text(content, "messages[2]", Refused)
    assert "messages[2]" in str(e.value)


@pytest.mark.parametrize("msgs, reason", [
    ({"role": "user"}, "messages must be a list"),
    (["hi"], "messages[0] must be an object"),
    ([{"role": "user", "content": "a"}, {"content": "b"}], "messages[1].role must be a string"),
    ([{"role": "user", "content": 3}], "messages[0].content must be a string or a list of parts"),
])
def test_read_messages_refuses_each_malformed_shape_with_its_place(msgs, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        read_messages(msgs, "messages")


def test_read_messages_keeps_order_roles_and_text():
    got = read_messages([{"role": "system", "content": "s"}, {"role": "user", "content": [{"text": "a"}, "b"]}],
                        "messages")
    assert [(m.index, m.role, m.text) for m in got] == [(0, "system", "s"), (1, "user", "a\nb")]
