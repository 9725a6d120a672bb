import orjson
import pytest

from policy.action_log import GENESIS, ActionLog


def _log(tmp_path, n=5):
    log = ActionLog.for_data_dir(tmp_path)
    for i in range(n):
        log.append("intent", {"id": f"a{i}", "action": "notify"})
        log.append("result", {"id": f"a{i}", "status": "done"})
    return log


def test_chain_verifies_and_links(tmp_path):
    log = _log(tmp_path)
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == list(range(1, 11))
    assert entries[0]["prev"] == GENESIS
    assert all(b["prev"] == a["hash"] for a, b in zip(entries, entries[1:]))
    r = log.verify()
    assert r.ok and r.entries == 10 and r.head == entries[-1]["hash"]
    assert [e["phase"] for e in log.for_action("a3")] == ["intent", "result"]


def test_edit_is_detected(tmp_path):
    log = _log(tmp_path)
    lines = log.path.read_bytes().splitlines()
    e = orjson.loads(lines[3])
    e["action"]["status"] = "failed"   # tamper with a result, keep the old hash
    lines[3] = orjson.dumps(e)
    log.path.write_bytes(b"\n".join(lines) + b"\n")
    r = log.verify()
    assert not r.ok and any("modified" in x for x in r.errors)


def test_edit_with_rehash_breaks_the_link(tmp_path):
    from policy.action_log import entry_hash
    log = _log(tmp_path)
    lines = log.path.read_bytes().splitlines()
    e = orjson.loads(lines[3])
    e["action"]["status"] = "failed"
    e["hash"] = entry_hash(e)          # a smarter forger recomputes this entry's hash
    lines[3] = orjson.dumps(e)
    log.path.write_bytes(b"\n".join(lines) + b"\n")
    r = log.verify()
    assert not r.ok and any("prev hash" in x for x in r.errors)


def test_deletion_and_truncation_are_detected(tmp_path):
    log = _log(tmp_path)
    lines = log.path.read_bytes().splitlines()
    log.path.write_bytes(b"\n".join(lines[:4] + lines[5:]) + b"\n")
    assert not log.verify().ok
    log.path.write_bytes(b"\n".join(lines[:6]) + b"\n")   # cut the tail: chain intact, head disagrees
    r = log.verify()
    assert not r.ok and any("truncated" in x for x in r.errors)


def test_append_continues_chain_across_instances(tmp_path):
    _log(tmp_path, 2)
    again = ActionLog.for_data_dir(tmp_path)
    e = again.append("record", {"id": "z"})
    assert e["seq"] == 5 and again.verify().ok


def _rewrite_without_key(log, status="failed"):
    """What someone who can write the data dir but not read the key does: edit an entry, recompute
    every hash and link with SHA-256, rewrite the head to match."""
    from policy.action_log import entry_hash
    entries = list(log.entries())
    entries[3]["action"]["status"] = status
    prev = GENESIS
    for e in entries:
        e["prev"] = prev
        e["hash"] = prev = entry_hash(e)
    log.path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in entries))
    log.head_path.write_bytes(orjson.dumps({"seq": entries[-1]["seq"], "hash": prev}))


@pytest.mark.parametrize("key_env", [None, "WARDEN_ACTION_LOG_KEY", "WARDEN_ACTION_LOG_KEY_FILE"])
def test_rewriting_file_and_head_is_detected_with_the_key(tmp_path, monkeypatch, key_env):
    monkeypatch.delenv("WARDEN_ACTION_LOG_KEY", raising=False)
    monkeypatch.delenv("WARDEN_ACTION_LOG_KEY_FILE", raising=False)
    if key_env == "WARDEN_ACTION_LOG_KEY":
        monkeypatch.setenv(key_env, "k" * 40)
    elif key_env:
        (tmp_path / "secret.key").write_text("s" * 40)
        monkeypatch.setenv(key_env, str(tmp_path / "secret.key"))
    log = _log(tmp_path / "w")
    assert log.verify().ok and all(e["mac"] == "hmac-sha256" for e in log.entries())
    assert (tmp_path / "w" / "action-log.key").exists() == (key_env is None)
    _rewrite_without_key(log)
    r = ActionLog.for_data_dir(tmp_path / "w").verify()
    assert not r.ok and any("not keyed" in x or "modified" in x for x in r.errors)


def test_a_lost_key_is_reported_and_not_replaced(tmp_path, monkeypatch):
    monkeypatch.delenv("WARDEN_ACTION_LOG_KEY", raising=False)
    monkeypatch.delenv("WARDEN_ACTION_LOG_KEY_FILE", raising=False)
    _log(tmp_path, 2)
    (tmp_path / "action-log.key").unlink()
    again = ActionLog.for_data_dir(tmp_path)
    r = again.verify()
    assert not r.ok and any("no key" in x for x in r.errors)
    with pytest.raises(ValueError, match="key"):
        again.append("record", {"id": "z"})


def test_a_missing_log_is_not_intact(tmp_path):
    r = ActionLog.for_data_dir(tmp_path / "nowhere").verify()
    assert not r.ok and r.missing and "no action log" in r.errors[0]
