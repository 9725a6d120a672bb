"""core.chat.content_text: the one reading of chat message content (collectors and the guard)."""
import pytest

from core.chat import content_text


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
