"""Every documented config setting refuses an invalid value at load with an error naming the
setting (README, "Configuration"): one case per kind of rule."""
from __future__ import annotations

import pytest

from agent.config import parse
from core.errors import ConfigError


@pytest.mark.parametrize("raw, message", [
    # integers with a lower bound
    ({"bus": {"replication_factor": 0}}, "bus: replication_factor must be >= 1, got 0"),
    ({"bus": {"max_poll_records": 0}}, "bus: max_poll_records must be >= 1"),
    ({"bus": {"batch_size": -1}}, "bus: batch_size must be >= 1"),
    ({"bus": {"fetch_max_wait_ms": -5}}, "bus: fetch_max_wait_ms must be >= 0"),
    ({"bus": {"linger_ms": -1}}, "bus: linger_ms must be >= 0"),
    ({"store": {"bulk_max": 0}}, "store: bulk_max must be >= 1"),
    ({"store": {"max_buffer": -1}}, "store: max_buffer must be >= 0"),
    ({"pipeline": {"batch_size": 0}}, "pipeline: batch_size must be >= 1"),
    ({"pipeline": {"checkpoint_interval_s": 0}}, "pipeline: checkpoint_interval_s must be > 0"),
    # one of a set
    ({"bus": {"compression": "brotli"}}, "bus: compression must be none, gzip, snappy, lz4, zstd"),
    # names other systems must accept
    ({"bus": {"topic_prefix": "warden/prod"}}, "bus: topic_prefix may hold only"),
    ({"bus": {"bootstrap": " "}}, "bus: bootstrap must name at least one broker"),
    ({"store": {"index_prefix": "Warden"}}, "store: index_prefix must be a lower-case Elasticsearch index name"),
    ({"store": {"index_prefix": "_warden"}}, "store: index_prefix must be"),
    # URLs
    ({"store": {"hosts": ["es:9200"]}}, "store: hosts must be a list of http:// or https:// URLs"),
    ({"store": {"hosts": []}}, "store: hosts must be a list"),
    ({"pipeline": {"tracing_endpoint": "collector:4318"}}, "pipeline: tracing_endpoint must be an http://"),
    # secrets that are empty
    ({"store": {"api_key": ""}}, "store: api_key is empty"),
    # types
    ({"store": {"verify_certs": "no"}}, "store.verify_certs: expected true/false, got 'no'"),
    ({"bus": {"replication_factor": "3"}}, "bus.replication_factor: expected an integer"),
    ({"pipeline": {"group_prefix": 7}}, "pipeline.group_prefix: expected a string"),
    # a setting that never did anything is refused, not silently ignored
    ({"pipeline": {"max_record_bytes": 1024}}, "pipeline: unknown option(s) max_record_bytes"),
])
def test_an_invalid_value_is_a_config_error_naming_the_setting(raw, message):
    with pytest.raises(ConfigError) as e:
        parse(raw)
    assert message in str(e.value)


def test_environment_overrides_are_checked_like_the_file(monkeypatch):
    monkeypatch.setenv("WARDEN_ES_HOSTS", "es-0:9200")        # was a ValueError traceback, not a config error
    with pytest.raises(ConfigError, match="store: hosts must be a list of http"):
        parse({})


@pytest.mark.parametrize("raw, attr, value", [
    ({"bus": {"compression": "none"}}, "compression", None),
    ({"bus": {"compression": "zstd"}}, "compression", "zstd"),
    ({"bus": {"replication_factor": 3, "max_poll_records": 1, "fetch_max_wait_ms": 0}}, "replication_factor", 3),
])
def test_valid_values_load(raw, attr, value):
    assert getattr(parse(raw).bus, attr) == value


@pytest.mark.parametrize("value", [[1], "", "  ", 12])
def test_data_dir_must_be_a_folder_path(tmp_path, value):
    """[1] became a folder named "[1]", "" the working directory (the store and state written there)."""
    with pytest.raises(ConfigError, match="data_dir must be a folder path"):
        parse({"data_dir": value})


@pytest.mark.parametrize("text, error", [
    ("policies: x\n", "policies must be a list of file paths"),
    ("detectors: {baseline: {}}\n", "names are 'type/name'"),
    ("data_dir: ''\n", "data_dir must be a folder path"),
])
def test_config_check_reports_an_error_once_and_under_its_own_name(tmp_path, text, error):
    """They were also reported a second time prefixed `http:` (the HTTP check parsed the whole file)."""
    from agent.config_check import check_config
    conf = tmp_path / "warden.yaml"
    conf.write_text(text)
    errors, _ = check_config(str(conf))
    assert [e for e in errors if error in e] and not [e for e in errors if e.startswith("http:")], errors


def test_config_check_names_a_tls_file_that_does_not_exist(tmp_path, monkeypatch):
    """`warden run` died on it with a FileNotFoundError traceback when the server started."""
    from agent.config_check import check_config
    monkeypatch.setenv("WARDEN_HTTP_TOKEN", "0123456789abcdef0123")
    (tmp_path / "c.pem").write_text("x")
    conf = tmp_path / "warden.yaml"
    conf.write_text("http: {enabled: true, tls_cert: c.pem, tls_key: k.pem}\n")
    errors, _ = check_config(str(conf))
    assert errors == [f"http.tls_key: no such file {tmp_path / 'k.pem'}"], errors
