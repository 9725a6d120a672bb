"""`warden actions verify` on a data dir with no action log is an error, not "chain intact"."""
from __future__ import annotations

import orjson

from tests.unit.agent.lifecycle.cli_fixture import invoke


def test_verify_without_a_log_fails(tmp_path):
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'typo'}\n")
    r = invoke(conf, "actions", "verify")
    assert r.exit_code == 1 and "no action log" in r.output and "intact" not in r.output
    j = invoke(conf, "actions", "verify", "--json")
    assert j.exit_code == 1 and orjson.loads(j.output)["missing"] is True
