"""Commands that read the alert store on a data dir without one (a mistyped data_dir, nothing run
yet) exit 3 naming the path, and create nothing there."""
from __future__ import annotations

from tests.unit.agent.lifecycle.cli_fixture import invoke


def test_list_and_expire_on_a_data_dir_without_a_store_exit_3_and_create_nothing(tmp_path):
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'typo'}\n")
    for args in (["list"], ["expire", "abc"]):
        r = invoke(conf, "silences", *args)
        assert r.exit_code == 3 and "no alert store" in r.output, r.output
    assert not (tmp_path / "typo").exists()          # it was a new, empty warden.db answering "no silences"
    r = invoke(conf, "silences", "add", "a=b", "--for", "-1h")
    assert r.exit_code == 2 and "--for" in r.output, r.output           # the option the user typed
    assert invoke(conf, "silences", "add", "a=b").exit_code == 0        # a silence may precede the first run


def test_ui_on_a_data_dir_without_a_store_exits_3_and_creates_nothing(tmp_path):
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'typo'}\n")
    r = invoke(conf, "ui", "--port", "0")
    assert r.exit_code == 3 and "no alert store" in r.output, r.output
    assert not (tmp_path / "typo").exists()      # it served a new, empty warden.db as "no alerts"
