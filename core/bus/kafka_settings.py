"""How warden's Kafka clients reach the brokers: the config's `bus` section (agent.config.BusConfig),
its `bus.kafka` client options (kafka-python's names: SASL/TLS, session timeouts, ...) and the
WARDEN_KAFKA_* environment, turned into each client library's settings (librdkafka's through
core.bus.options)."""
from __future__ import annotations

import os

from core.bus import options as _options

#: environment → kafka-python option (credentials stay out of the config file in containers)
ENV_OPTIONS = {
    "WARDEN_KAFKA_SECURITY_PROTOCOL": "security_protocol",   # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    "WARDEN_KAFKA_SASL_MECHANISM": "sasl_mechanism",         # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512 | OAUTHBEARER
    "WARDEN_KAFKA_SASL_USERNAME": "sasl_plain_username",
    "WARDEN_KAFKA_SASL_PASSWORD": "sasl_plain_password",
    "WARDEN_KAFKA_SSL_CAFILE": "ssl_cafile",
    "WARDEN_KAFKA_SSL_CERTFILE": "ssl_certfile",
    "WARDEN_KAFKA_SSL_KEYFILE": "ssl_keyfile",
    "WARDEN_KAFKA_SSL_PASSWORD": "ssl_password",
}
#: warden's defaults (overridable in `bus.kafka`): reconnect within seconds after a broker restart
#: (kafka-python's default backoff grows to 30 s), and a dead replica's partitions move in ~15 s
DEFAULTS = {"reconnect_backoff_max_ms": 2000, "session_timeout_ms": 15000, "heartbeat_interval_ms": 3000}
SECRET_OPTIONS = ("sasl_plain_password", "ssl_password", "sasl_oauth_token_provider")


def client_options(cfg, environ=None) -> dict:
    """kafka-python connection options: the config's `bus.kafka` mapping, then WARDEN_KAFKA_* env."""
    env = os.environ if environ is None else environ
    opts = dict(cfg.kafka or {})
    for var, opt in ENV_OPTIONS.items():
        if env.get(var):
            opts[opt] = env[var]
    return opts


def redacted(opts: dict) -> dict:
    return {k: ("***" if k in SECRET_OPTIONS or "password" in k else v) for k, v in opts.items()}


class KafkaSettings:
    """One bus's connection settings, for every client it builds."""

    def __init__(self, cfg) -> None:
        self.cfg = cfg      # the config's `bus` section (agent.config.BusConfig)
        self.bootstrap = cfg.bootstrap
        self.client_options = client_options(cfg)
        # options the librdkafka clients cannot honour fail at config load; harmless
        # kafka-python-only ones are logged once and counted here
        self.ignored_options = _options.check(self.client_options, self.client("producer"), self.client("consumer"))
        _options.report_ignored(self.ignored_options)

    def client(self, role: str) -> str:
        """The client library of a role (producer | consumer): confluent (librdkafka) or kafka-python."""
        return (self.cfg.producer_client if role == "producer" else self.cfg.consumer_client) or "confluent"

    def rdkafka_conf(self, role: str) -> dict:
        """librdkafka properties for one role from warden's DEFAULTS and `bus.kafka`."""
        return {"bootstrap.servers": self.bootstrap,
                **_options.rdkafka_conf({**DEFAULTS, **self.client_options}, role)}

    def kafka_python(self, client=None) -> dict:
        """Connection options for one kafka-python client class: options it does not know are left
        out, so `bus.kafka` can hold consumer-only settings (session_timeout_ms, ...) next to SASL/TLS."""
        opts = {"bootstrap_servers": self.bootstrap, **DEFAULTS, **self.client_options}
        if client is not None:
            known = getattr(client, "DEFAULT_CONFIG", None)
            if known:
                opts = {k: v for k, v in opts.items() if k in known}
        return opts
