import orjson

from agent.actions.log import GENESIS, ActionLog


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
    from agent.actions.log import entry_hash
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
