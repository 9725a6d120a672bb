"""`bus.kafka`: kafka-python option names, translated for the librdkafka clients.

The config speaks kafka-python's option names (`security_protocol`, `sasl_plain_username`, ...):
kafka-python stays the admin client (topics, committed offsets) and the state topic's client, and
is selectable as `bus.producer_client` / `bus.consumer_client: kafka-python`. The default clients
are librdkafka's (confluent-kafka), so every option is classified here, and none is silently
dropped on the way:

- mapped: the librdkafka property with the same meaning (value converted where needed);
- warden's own: set by warden or by a `bus.*` field (acks, group_id, linger_ms, ...) — an error
  for every client (kafka-python would be given it twice);
- unsupported by librdkafka (proxies, Kerberos names, Python objects, transactions): an error at
  config load naming the option and the client, when a librdkafka client is configured;
- harmless kafka-python-only tuning (metrics sampling, iterator timeouts, ...): not passed to
  librdkafka, logged once per process and counted (`bus.kafka_options_ignored`).

Options a client role never uses (a producer-only option for the consumer) are not that
client's concern. No kafka import here: config validation stays cheap.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Callable

log = logging.getLogger("warden.bus.kafka")

BOTH, PRODUCER, CONSUMER = "both", "producer", "consumer"


def _same(v):
    return v


def _retries(v):
    """kafka-python's default is float('inf'); librdkafka's maximum is 2^31-1."""
    return 2147483647 if isinstance(v, float) and math.isinf(v) else int(v)


def _check_hostname(v):
    return "https" if v else "none"


#: kafka-python option → (roles, librdkafka property, value conversion)
MAPPED: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "security_protocol": (BOTH, "security.protocol", _same),
    "sasl_mechanism": (BOTH, "sasl.mechanism", _same),
    "sasl_plain_username": (BOTH, "sasl.username", _same),
    "sasl_plain_password": (BOTH, "sasl.password", _same),
    "sasl_kerberos_service_name": (BOTH, "sasl.kerberos.service.name", _same),
    "ssl_cafile": (BOTH, "ssl.ca.location", _same),
    "ssl_certfile": (BOTH, "ssl.certificate.location", _same),
    "ssl_keyfile": (BOTH, "ssl.key.location", _same),
    "ssl_password": (BOTH, "ssl.key.password", _same),
    "ssl_crlfile": (BOTH, "ssl.crl.location", _same),
    "ssl_ciphers": (BOTH, "ssl.cipher.suites", _same),
    "ssl_check_hostname": (BOTH, "ssl.endpoint.identification.algorithm", _check_hostname),
    "client_id": (BOTH, "client.id", _same),
    "client_dns_lookup": (BOTH, "client.dns.lookup", _same),
    "request_timeout_ms": (BOTH, "socket.timeout.ms", int),
    "retry_backoff_ms": (BOTH, "retry.backoff.ms", int),
    "reconnect_backoff_ms": (BOTH, "reconnect.backoff.ms", int),
    "reconnect_backoff_max_ms": (BOTH, "reconnect.backoff.max.ms", int),
    "connections_max_idle_ms": (BOTH, "connections.max.idle.ms", int),
    "metadata_max_age_ms": (BOTH, "metadata.max.age.ms", int),
    "receive_buffer_bytes": (BOTH, "socket.receive.buffer.bytes", int),
    "send_buffer_bytes": (BOTH, "socket.send.buffer.bytes", int),
    "receive_message_max_bytes": (BOTH, "receive.message.max.bytes", int),
    "max_in_flight_requests_per_connection": (BOTH, "max.in.flight.requests.per.connection", int),
    "allow_auto_create_topics": (BOTH, "allow.auto.create.topics", bool),
    # producer
    "retries": (PRODUCER, "retries", _retries),
    "delivery_timeout_ms": (PRODUCER, "delivery.timeout.ms", int),
    "max_request_size": (PRODUCER, "message.max.bytes", int),
    # consumer
    "session_timeout_ms": (CONSUMER, "session.timeout.ms", int),
    "heartbeat_interval_ms": (CONSUMER, "heartbeat.interval.ms", int),
    "max_poll_interval_ms": (CONSUMER, "max.poll.interval.ms", int),
    "fetch_min_bytes": (CONSUMER, "fetch.min.bytes", int),
    "fetch_max_bytes": (CONSUMER, "fetch.max.bytes", int),
    "max_partition_fetch_bytes": (CONSUMER, "max.partition.fetch.bytes", int),
    "check_crcs": (CONSUMER, "check.crcs", bool),
    "client_rack": (CONSUMER, "client.rack", _same),
    "group_instance_id": (CONSUMER, "group.instance.id", _same),
    "isolation_level": (CONSUMER, "isolation.level", _same),
}

#: set by warden itself or by a `bus.*` field: an error whichever client runs
WARDEN_OWN: dict[str, str] = {
    "bootstrap_servers": "use bus.bootstrap",
    "acks": "warden produces with acks=all",
    "enable_idempotence": "warden's producers are idempotent",
    "linger_ms": "use bus.linger_ms",
    "batch_size": "use bus.batch_size",
    "compression_type": "use bus.compression",
    "key_serializer": "warden sends bytes", "value_serializer": "warden sends bytes",
    "key_deserializer": "warden reads bytes", "value_deserializer": "warden reads bytes",
    "partitioner": "warden places keys on Kafka's murmur2 partitions",
    "group_id": "set per stage from pipeline.group_prefix",
    "enable_auto_commit": "warden commits after each checkpoint",
    "auto_offset_reset": "warden starts a new group at the earliest offset",
    "max_poll_records": "use bus.max_poll_records",
    "fetch_max_wait_ms": "use bus.fetch_max_wait_ms",
    "partition_assignment_strategy": "warden uses the range assignor (co-partitioned topics)",
}

#: kafka-python options librdkafka has no equivalent for: an error when a librdkafka client runs
UNSUPPORTED: dict[str, tuple[str, str]] = {
    "proxy_url": (BOTH, "librdkafka has no HTTP proxy support"),
    "socks5_proxy": (BOTH, "librdkafka has no SOCKS5 proxy support"),
    "sasl_kerberos_name": (BOTH, "use sasl_kerberos_service_name (librdkafka builds the principal)"),
    "sasl_kerberos_domain_name": (BOTH, "librdkafka uses the broker's host name"),
    "sasl_oauth_token_provider": (BOTH, "a Python object: librdkafka needs its own OAUTHBEARER settings"),
    "ssl_context": (BOTH, "a Python SSLContext: use ssl_cafile / ssl_certfile / ssl_keyfile"),
    "selector": (BOTH, "a Python selector class"),
    "socket_options": (BOTH, "Python socket options"),
    "kafka_client": (BOTH, "a Python client class"),
    "metric_reporters": (BOTH, "Python metric reporter classes"),
    "transactional_id": (PRODUCER, "warden does not use transactions"),
    "transaction_timeout_ms": (PRODUCER, "warden does not use transactions"),
    "default_offset_commit_callback": (CONSUMER, "a Python callback (warden commits synchronously)"),
}

#: kafka-python-only settings with no effect on what warden's librdkafka clients guarantee:
#: logged once and counted, not passed on
HARMLESS: dict[str, tuple[str, str]] = {
    "api_version": (BOTH, "librdkafka negotiates the API versions with the broker"),
    "bootstrap_timeout_ms": (BOTH, "librdkafka keeps retrying the bootstrap servers"),
    "metrics_enabled": (BOTH, "kafka-python's own metrics"),
    "metrics_num_samples": (BOTH, "kafka-python's own metrics"),
    "metrics_sample_window_ms": (BOTH, "kafka-python's own metrics"),
    "max_block_ms": (PRODUCER, "warden's librdkafka producer waits for queue room instead of raising"),
    "auto_commit_interval_ms": (CONSUMER, "auto-commit is off"),
    "consumer_timeout_ms": (CONSUMER, "only for kafka-python's iterator, which warden does not use"),
    "enable_incremental_fetch_sessions": (CONSUMER, "librdkafka has no fetch sessions"),
    "exclude_internal_topics": (CONSUMER, "warden subscribes to named topics only"),
    "metric_group_prefix": (CONSUMER, "kafka-python's own metrics"),
}

KNOWN = set(MAPPED) | set(WARDEN_OWN) | set(UNSUPPORTED) | set(HARMLESS)


def _roles(producer_client: str, consumer_client: str) -> set[str]:
    """The client roles that run on librdkafka."""
    out = set()
    if producer_client == "confluent":
        out.add(PRODUCER)
    if consumer_client == "confluent":
        out.add(CONSUMER)
    return out


def _applies(role: str, roles: set[str]) -> bool:
    return bool(roles) if role == BOTH else role in roles


def check(opts: dict, producer_client: str = "confluent", consumer_client: str = "confluent") -> list[str]:
    """Validate `bus.kafka` for the configured clients; raise ValueError naming the first
    option that cannot be honoured. Returns the options ignored by the librdkafka clients."""
    roles = _roles(producer_client, consumer_client)
    who = " and ".join(f"bus.{r}_client: confluent (librdkafka)" for r in (PRODUCER, CONSUMER) if r in roles)
    ignored = []
    for k in sorted(opts):
        if k not in KNOWN:
            hint = " (use kafka-python's option names, e.g. security_protocol)" if "." in k else ""
            raise ValueError(f"kafka.{k}: unknown kafka-python option{hint}")
        if k in WARDEN_OWN:
            raise ValueError(f"kafka.{k}: not configurable here: {WARDEN_OWN[k]}")
        if k in UNSUPPORTED and _applies(UNSUPPORTED[k][0], roles):
            raise ValueError(f"kafka.{k}: no librdkafka equivalent for {who}: {UNSUPPORTED[k][1]} "
                             f"(or use the kafka-python client for this role)")
        if k in HARMLESS and _applies(HARMLESS[k][0], roles):
            ignored.append(k)
    return ignored


def rdkafka_conf(opts: dict, role: str) -> dict:
    """librdkafka properties for one client role (producer | consumer) from kafka-python options
    (already validated by `check`): mapped options are translated, others left out."""
    conf = {}
    for k, v in opts.items():
        m = MAPPED.get(k)
        if m is None or v is None or not (m[0] == BOTH or m[0] == role):
            continue
        conf[m[1]] = m[2](v)
    return conf


_warned: set[str] = set()


def report_ignored(ignored: list[str], counters=None) -> None:
    """Log each ignored option once per process and count it (`bus.kafka_options_ignored`)."""
    if counters is None:
        from core.counters import COUNTERS as counters
    for k in ignored:
        if k in _warned:
            continue
        _warned.add(k)
        log.warning("bus.kafka.%s is a kafka-python-only option, not used by the librdkafka clients: %s",
                    k, HARMLESS[k][1])
        counters.inc("bus.kafka_options_ignored")
