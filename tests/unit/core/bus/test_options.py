"""`bus.kafka` options on the librdkafka clients: every kafka-python option is mapped, refused at
config load (naming the option and the client), or — harmless kafka-python-only tuning — logged
once and counted. Nothing is silently dropped."""
from __future__ import annotations

import logging

import pytest

from core.bus import options
from agent.config import parse
from core.counters import Counters
from core.errors import ConfigError


def kafka_python_options() -> set[str]:
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient
    return set(KafkaProducer.DEFAULT_CONFIG) | set(KafkaConsumer.DEFAULT_CONFIG) | set(KafkaAdminClient.DEFAULT_CONFIG)


def test_every_kafka_python_option_is_classified():
    assert kafka_python_options() <= options.KNOWN
    groups = [set(options.MAPPED), set(options.WARDEN_OWN), set(options.UNSUPPORTED), set(options.HARMLESS)]
    assert sum(len(g) for g in groups) == len(set().union(*groups))    # each in exactly one class


def test_librdkafka_accepts_every_mapped_property():
    """librdkafka validates property names and values when a client is built (no broker needed)."""
    from confluent_kafka import Consumer, Producer
    sample = {"security_protocol": "PLAINTEXT", "sasl_mechanism": "PLAIN", "sasl_plain_username": "u",
              "sasl_plain_password": "p", "sasl_kerberos_service_name": "kafka", "ssl_ciphers": "HIGH",
              "ssl_check_hostname": False, "client_id": "warden", "client_dns_lookup": "use_all_dns_ips",
              "request_timeout_ms": 30000, "retry_backoff_ms": 100, "reconnect_backoff_ms": 50,
              "reconnect_backoff_max_ms": 2000, "connections_max_idle_ms": 540000, "metadata_max_age_ms": 300000,
              "receive_buffer_bytes": 65536, "send_buffer_bytes": 131072, "receive_message_max_bytes": 100000000,
              "max_in_flight_requests_per_connection": 5, "allow_auto_create_topics": True,
              "retries": float("inf"), "delivery_timeout_ms": 120000, "max_request_size": 1048576,
              "session_timeout_ms": 15000, "heartbeat_interval_ms": 3000, "max_poll_interval_ms": 300000,
              "fetch_min_bytes": 1, "fetch_max_bytes": 52428800, "max_partition_fetch_bytes": 1048576,
              "check_crcs": True, "client_rack": "rack-1", "group_instance_id": "act-0",
              "isolation_level": "read_committed"}
    files = {"ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password", "ssl_crlfile"}   # read when building
    assert set(sample) | files == set(options.MAPPED)
    base = {"bootstrap.servers": "127.0.0.1:1"}
    prod = options.rdkafka_conf(sample, "producer")
    cons = options.rdkafka_conf(sample, "consumer")
    assert prod["retries"] == 2147483647 and prod["ssl.endpoint.identification.algorithm"] == "none"
    assert "session.timeout.ms" not in prod and "retries" not in cons
    Producer({**base, **prod})
    Consumer({**base, **cons, "group.id": "g"}).close()


def test_file_options_map_to_locations():
    conf = options.rdkafka_conf({"ssl_cafile": "/ca.pem", "ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem",
                                 "ssl_password": "pw", "ssl_crlfile": "/crl.pem", "send_buffer_bytes": None}, "consumer")
    assert conf == {"ssl.ca.location": "/ca.pem", "ssl.certificate.location": "/c.pem",
                    "ssl.key.location": "/k.pem", "ssl.key.password": "pw", "ssl.crl.location": "/crl.pem"}


@pytest.mark.parametrize("opt, value, words", [
    ("proxy_url", "http://proxy:3128", ["kafka.proxy_url", "librdkafka", "bus.producer_client: confluent"]),
    ("sasl_kerberos_domain_name", "corp", ["kafka.sasl_kerberos_domain_name", "librdkafka"]),
    ("transactional_id", "x", ["kafka.transactional_id", "bus.producer_client: confluent"]),
    ("acks", 1, ["kafka.acks", "acks=all"]),
    ("group_id", "g", ["kafka.group_id", "group_prefix"]),
    ("linger_ms", 10, ["kafka.linger_ms", "bus.linger_ms"]),
    ("security.protocol", "SSL", ["kafka.security.protocol", "unknown", "security_protocol"]),
    ("sesion_timeout_ms", 1, ["kafka.sesion_timeout_ms", "unknown"]),
])
def test_options_that_cannot_be_honoured_fail_at_config_load(opt, value, words):
    with pytest.raises(ConfigError) as e:
        parse({"bus": {"type": "kafka", "kafka": {opt: value}}})
    for w in words:
        assert w in str(e.value)


def test_a_kafka_python_only_option_is_accepted_for_the_kafka_python_client():
    cfg = parse({"bus": {"kafka": {"proxy_url": "http://proxy:3128"}, "producer_client": "kafka-python",
                         "consumer_client": "kafka-python"}})
    assert cfg.bus.kafka == {"proxy_url": "http://proxy:3128"}
    # a producer-only option does not concern a librdkafka consumer
    parse({"bus": {"kafka": {"transactional_id": "x"}, "producer_client": "kafka-python"}})
    with pytest.raises(ConfigError, match="consumer_client: confluent"):
        parse({"bus": {"kafka": {"default_offset_commit_callback": "x"}, "producer_client": "kafka-python"}})


def test_defaults_are_the_librdkafka_clients():
    cfg = parse({})
    assert (cfg.bus.producer_client, cfg.bus.consumer_client) == ("confluent", "confluent")


def test_harmless_options_are_logged_once_and_counted(caplog, monkeypatch):
    monkeypatch.setattr(options, "_warned", set())
    opts = {"api_version": (2, 8), "consumer_timeout_ms": 1000, "security_protocol": "SSL"}
    ignored = options.check(opts)
    assert ignored == ["api_version", "consumer_timeout_ms"]
    assert options.check(opts, "confluent", "kafka-python") == ["api_version"]
    assert options.check(opts, "kafka-python", "kafka-python") == []
    counters = Counters()
    with caplog.at_level(logging.WARNING, "warden.bus.kafka"):
        options.report_ignored(ignored, counters)
        options.report_ignored(ignored, counters)
    assert counters.get("bus.kafka_options_ignored") == 2
    assert [r.getMessage().split(" ")[0] for r in caplog.records] == ["bus.kafka.api_version",
                                                                      "bus.kafka.consumer_timeout_ms"]


def test_the_kafka_bus_reports_ignored_options(monkeypatch):
    from core.bus.kafka import KafkaBus
    from core.counters import COUNTERS
    monkeypatch.setattr(options, "_warned", set())
    before = COUNTERS.get("bus.kafka_options_ignored")
    cfg = parse({"bus": {"type": "kafka", "kafka": {"metrics_num_samples": 3, "session_timeout_ms": 9000}}})
    bus = KafkaBus(cfg.bus)
    assert bus.ignored_options == ["metrics_num_samples"]
    assert COUNTERS.get("bus.kafka_options_ignored") == before + 1
    conf = bus.rdkafka_conf("consumer")
    assert conf["session.timeout.ms"] == 9000 and conf["reconnect.backoff.max.ms"] == 2000
    assert conf["bootstrap.servers"] == cfg.bus.bootstrap
