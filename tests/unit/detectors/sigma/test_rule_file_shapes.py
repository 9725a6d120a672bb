"""A rule file pySigma cannot read is reported with what is wrong in it, not pySigma's internal
AttributeError ("'str' object has no attribute 'get'" for a file holding a plain string,
"'int' object has no attribute 'replace'" for `id: 1`); the other files still load."""
from __future__ import annotations

import pytest

from detectors.sigma.loader import Parsed, parse_paths, parse_text

RULE = "title: t\nlogsource: {product: aws}\ndetection: {sel: {eventName: X}, condition: sel}\n"


@pytest.mark.parametrize("text, reason", [
    ("just some text\n", "document 1 is a str, not a Sigma rule"),
    ("- a\n- b\n", "document 1 is a list, not a Sigma rule"),
    (RULE + "id: 1\n", "document 1: id must be a string (a UUID), got int 1"),
    (RULE + "---\n5\n", "document 2 is a int, not a Sigma rule"),
    ("title: x\n  bad: [\n", "invalid YAML: mapping values are not allowed here"),
])
def test_an_unreadable_rule_file_says_what_is_wrong(text, reason):
    out = Parsed()
    parse_text(text, "r.yml", out)
    assert out.rules == [] and len(out.errors) == 1, out.errors
    path, why = out.errors[0]
    assert path == "r.yml" and why.startswith("cannot parse: ") and reason in why and "AttributeError" not in why


def test_the_other_files_still_load(tmp_path):
    (tmp_path / "good.yml").write_text(RULE + "id: 5a1c2b9e-0d61-4f5e-9a55-1f2d3c4b5a60\n")
    (tmp_path / "bad.yml").write_text("just some text\n")
    out = parse_paths([tmp_path])
    assert out.files == 2 and [r.title for r, _ in out.rules] == ["t"] and len(out.errors) == 1
