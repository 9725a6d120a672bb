import gzip
import io
import sys

import orjson
import pytest

from core import codec, registry
from core.errors import ConfigError
from core.event import Event
from collectors import scenario
from collectors.base import ListEmitter
from collectors.replay import RAW_LIMIT, ReplayCollector, write_envelopes


def metric(i, entity="gpu-node-1"):
    return codec.to_dict(Event.create(source="scenario/demo", kind="metric", entity=entity, name="gpu.utilization",
                                      time=1767571200.0 + 60 * i, value=0.9, observed_time=1767571200.0 + 60 * i))


def ct_record(name="GetObject", **kw):
    r = {"eventVersion": "1.09", "eventTime": "2026-01-05T00:01:02Z", "eventSource": "s3.amazonaws.com",
         "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.23", "userAgent": "aws-cli/2",
         "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice",
                          "accountId": "123456789012", "userName": "alice"},
         "requestParameters": {"bucketName": "acme-datasets", "key": "a"}, "responseElements": None,
         "eventID": "8f4a1c2e-0000-4000-a000-000000000001", "recipientAccountId": "123456789012"}
    r.update(kw)
    return r


def run(tmp_path, content: bytes, name="in.jsonl", **opts):
    p = tmp_path / name
    p.write_bytes(content)
    c = ReplayCollector("t", paths=[str(p)], **opts)
    em = ListEmitter()
    c.bind(em)
    n = c.run_once()
    return n, em, c


def lines(*objs):
    return b"".join((o if isinstance(o, bytes) else orjson.dumps(o)) + b"\n" for o in objs)


def test_registered_and_validated():
    assert registry.get("collector", "replay") is ReplayCollector
    assert ReplayCollector.bounded
    with pytest.raises(ConfigError, match="paths"):
        ReplayCollector()
    with pytest.raises(ConfigError, match="unknown format"):
        ReplayCollector(paths=["x"], format="no-such-format")
    with pytest.raises(ConfigError):
        ReplayCollector(paths=["x"], max_record_bytes=0)
    c = registry.create("collector", "replay/r", {"paths": ["a", "b"], "format": "event"})
    assert c.paths == ["a", "b"] and c.format == "event" and c.max_record_bytes == 1 << 20


def test_good_lines_blank_lines_and_crlf(tmp_path):
    data = lines(metric(0), metric(1)) + b"\n   \n" + orjson.dumps(metric(2)) + b"\r\n" + orjson.dumps(metric(3))
    n, em, c = run(tmp_path, data)
    assert n == 4 and em.dead == []
    assert [e.time for e in em.events] == [1767571200.0 + 60 * i for i in range(4)]
    assert [e.id for e in em.events] == [metric(i)["id"] for i in range(4)]
    assert c.run_once() == 0  # bounded: read once


def test_broken_json_is_dead_lettered_with_reason_and_position(tmp_path):
    data = lines(metric(0), b'{"v": 1, "type": "ev', metric(1))
    n, em, _ = run(tmp_path, data)
    assert n == 3 and len(em.events) == 2
    ((raw, reason, source),) = em.dead
    assert raw == '{"v": 1, "type": "ev' and "in.jsonl:2: invalid JSON" in reason and source == "replay/t"


def test_oversized_lines_are_skipped_not_loaded(tmp_path):
    big = b'{"x": "' + b"a" * 5000 + b'"}'
    data = lines(metric(0), big, metric(1), b"b" * 300)
    n, em, _ = run(tmp_path, data, max_record_bytes=1000)
    assert n == 4 and len(em.events) == 2
    assert len(em.dead) == 2
    raw, reason, _ = em.dead[0]
    assert "in.jsonl:2: record over max_record_bytes (5009 > 1000 bytes)" in reason
    assert len(raw) <= RAW_LIMIT + 20 and raw.startswith('{"x": "aaa')
    assert "in.jsonl:4" in em.dead[1][1]


def test_oversized_line_streaming_large_file(tmp_path):
    # bigger than max_document_bytes and than the read chunk: the line reader never holds it whole
    big = b"z" * 300_000
    data = lines(metric(0), big, metric(1))
    n, em, _ = run(tmp_path, data, max_record_bytes=1000, max_document_bytes=100)
    assert n == 3 and len(em.events) == 2
    assert "record over max_record_bytes (300000 > 1000 bytes)" in em.dead[0][1]


def test_unknown_shape_and_wrong_types(tmp_path):
    data = lines({"hello": "world"}, [1, 2, 3], 42, "text", metric(0))
    n, em, _ = run(tmp_path, data)
    assert n == 5 and len(em.events) == 1
    reasons = [r for _, r, _ in em.dead]
    assert len(reasons) == 4
    assert all("no format recognises it" in r for r in reasons)
    assert em.dead[0][0] == {"hello": "world"}          # the record itself: re-submittable


def test_named_format_rejects_wrong_records(tmp_path):
    bad = metric(0)
    bad["value"] = "high"
    n, em, _ = run(tmp_path, lines(bad, metric(1), {"eventName": "x"}), format="event")
    assert n == 3 and len(em.events) == 1
    assert "value must be a number" in em.dead[0][1]
    assert 'not a warden record: no schema version "v"' in em.dead[1][1]     # was: "unsupported ... None"


def test_cloudtrail_records_document(tmp_path):
    doc = {"Records": [ct_record(), ct_record("ListBuckets"), ct_record("GetObject", eventTime="2026-01-05T00:02:00Z")]}
    n, em, _ = run(tmp_path, orjson.dumps(doc, option=orjson.OPT_INDENT_2), name="ct.json")
    assert n == 3 and em.dead == []          # each record of the file counted
    assert [e.name for e in em.events] == ["GetObject", "ListBuckets", "GetObject"]
    assert all(e.kind == "audit" for e in em.events)
    # gzip'd CloudTrail log file as delivered to S3
    n, em2, _ = run(tmp_path, gzip.compress(orjson.dumps(doc)), name="ct.json.gz")
    assert n == 3 and [e.id for e in em2.events] == [e.id for e in em.events]


def test_json_array_document_is_a_list_of_records(tmp_path):
    data = orjson.dumps([metric(0), {"nope": 1}, metric(1)], option=orjson.OPT_INDENT_2)
    n, em, _ = run(tmp_path, data, name="arr.json")
    assert n == 3 and len(em.events) == 2
    assert "arr.json[1]:" in em.dead[0][1]


def test_envelope_lines_choose_the_format(tmp_path):
    ct = ct_record()
    data = lines({"format": "cloudtrail", "record": ct}, {"format": "event", "record": metric(0)},
                 {"format": "no-such", "record": {"a": 1}},
                 {"format": "event", "record": ct})          # wrong format named: dead letter
    n, em, _ = run(tmp_path, data, format="event")          # envelope wins over the collector's format
    assert n == 4
    assert [e.kind for e in em.events] == ["audit", "metric"]
    assert "unknown format 'no-such'" in em.dead[0][1]
    assert 'no schema version "v"' in em.dead[1][1]


def test_write_envelopes_round_trip_scenario(tmp_path):
    pairs = scenario.generate(hours=0.25)
    buf = io.BytesIO()
    assert write_envelopes(pairs, buf) == len(pairs)
    n, em, _ = run(tmp_path, buf.getvalue(), name="demo.jsonl")
    assert n == len(pairs)
    direct = scenario.ScenarioCollector("demo", hours=0.25)  # source scenario/demo, as generate()
    dem = ListEmitter()
    direct.bind(dem)
    direct.run_once()
    # metric events keep their ids (format "event" keeps the record's identity)
    assert [e.id for e in em.events if e.kind == "metric"] == [e.id for e in dem.events if e.kind == "metric"]
    assert len(em.events) == len(dem.events) and len(em.dead) == len(dem.dead)


def test_missing_file_and_stdin(tmp_path, monkeypatch):
    c = ReplayCollector(paths=[str(tmp_path / "missing.jsonl"), "-"])
    em = ListEmitter()
    c.bind(em)

    class In:
        buffer = io.BytesIO(lines(metric(0), b"oops"))
    monkeypatch.setattr(sys, "stdin", In)
    assert c.run_once() == 2
    assert len(em.events) == 1
    assert "cannot read" in em.dead[0][1] and "missing.jsonl" in em.dead[0][1]
    assert "<stdin>:2: invalid JSON" in em.dead[1][1]


def test_parser_bug_never_raises(tmp_path, monkeypatch):
    import collectors.accounting as acc

    def boom(rec, fmt, source):
        raise RuntimeError("kaboom")
    monkeypatch.setattr(acc, "parse_record", boom)
    n, em, _ = run(tmp_path, lines(metric(0)))
    assert n == 1 and "parser error: RuntimeError: kaboom" in em.dead[0][1]


def test_empty_file_and_bom(tmp_path):
    n, em, _ = run(tmp_path, b"")
    assert n == 0 and em.events == [] and em.dead == []
    n, em, _ = run(tmp_path, b"\xef\xbb\xbf" + lines(metric(0), metric(1)))
    assert n == 2 and len(em.events) == 2 and em.dead == []


def test_truncated_gzip_keeps_what_was_read(tmp_path):
    data = lines(*[metric(i) for i in range(2000)])
    n, em, _ = run(tmp_path, gzip.compress(data)[:-200], name="cut.jsonl.gz", max_document_bytes=0)
    assert 0 < len(em.events) < 2000 and n == len(em.events) + sum("cut.jsonl.gz:" in r and "invalid" in r
                                                                   for _, r, _ in em.dead)
    assert "cannot read" in em.dead[-1][1]


def test_truncated_gzip_keeps_what_was_read_with_the_default_settings(tmp_path):
    """The default first tries the file as one JSON document: a cut .gz failed that read and lost
    every record before the cut (only the file's own dead letter said anything)."""
    data = lines(*[metric(i) for i in range(2000)])
    n, em, _ = run(tmp_path, gzip.compress(data)[:-200], name="cut.jsonl.gz")
    assert 0 < len(em.events) < 2000 and n == len(em.events) + sum("cut.jsonl.gz:" in r and "invalid" in r
                                                                   for _, r, _ in em.dead)
    assert "cannot read" in em.dead[-1][1]


def test_scenario_write_file_replays(tmp_path):
    p = tmp_path / "demo.jsonl"
    n = scenario.write_file(str(p), hours=0.2)
    c = ReplayCollector("demo", paths=[str(p)])
    em = ListEmitter()
    c.bind(em)
    assert c.run_once() == n == len(scenario.generate(hours=0.2))
    assert em.events and c.stats["records"] == n


try:
    from hypothesis import given, settings, strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.one_of(st.binary(max_size=200),
                              st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
                                           | st.text(max_size=20),
                                           lambda ch: st.lists(ch, max_size=4) | st.dictionaries(st.text(max_size=8), ch, max_size=4),
                                           max_leaves=10).map(lambda o: orjson.dumps(o))),
                    max_size=8))
    def test_never_raises_on_arbitrary_input(tmp_path_factory, chunks):
        d = tmp_path_factory.mktemp("fuzz")
        p = d / "f.jsonl"
        p.write_bytes(b"\n".join(c.replace(b"\n", b" ") for c in chunks))
        c = ReplayCollector(paths=[str(p)], max_record_bytes=150)
        em = ListEmitter()
        c.bind(em)
        n = c.run_once()
        # every record-level dead letter is a record read; an unreadable file (e.g. gzip magic and
        # nothing else) is one file-level dead letter with no record
        assert n >= len([r for _, r, _ in em.dead if "cannot read" not in r])
        assert all(isinstance(r, str) and r for _, r, _ in em.dead)
