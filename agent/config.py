"""The one YAML config: sections, defaults, validation, environment overrides.

```yaml
bus:   {type: embedded | kafka, bootstrap: 127.0.0.1:9092, topic_prefix: warden., partitions: 3}
store: {type: sqlite | elasticsearch, path: .warden/warden.db, hosts: [http://127.0.0.1:9200]}
http:  {enabled: false, host: 127.0.0.1, port: 8080}
pipeline: {batch_size: 500, checkpoint_interval_s: 1.0}
collectors: {scenario/demo: {}, otlp/default: {}}
detectors:  {sigma/default: {}, ...}      # default: DEFAULT_DETECTORS, one per stream
responders: {webhook/oncall: {url: ...}}
policies: [path/to/policies.yaml]   # default: the built-in policies
```
Environment overrides (for containers): WARDEN_BUS, WARDEN_KAFKA_BOOTSTRAP, WARDEN_STORE,
WARDEN_ES_HOSTS (comma separated), WARDEN_ES_API_KEY, WARDEN_HTTP_TOKEN, WARDEN_DATA_DIR.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.component import build_config, resolve_path
from core.errors import ConfigError

#: Kafka's producer compression codecs (librdkafka and kafka-python); None / "none": uncompressed
COMPRESSION = ("gzip", "snappy", "lz4", "zstd")
#: characters an Elasticsearch index name may not hold (it must also be lower case, not start with - _ +)
_ES_INDEX_BAD = set('\\/*?"<>| ,#:')


def at_least(cfg: Any, minimum: float, *names: str) -> None:
    """ValueError naming the first of `names` whose value is below `minimum`."""
    for n in names:
        if getattr(cfg, n) < minimum:
            raise ValueError(f"{n} must be >= {minimum:g}, got {getattr(cfg, n)!r}")


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://")) and len(value) > len("https://")


@dataclass
class BusConfig:
    type: str = "embedded"
    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "warden."
    partitions: int = 3
    replication_factor: int = 1
    linger_ms: int = 5
    batch_size: int = 262144
    compression: str | None = None
    max_poll_records: int = 2000
    fetch_max_wait_ms: int = 100
    # client options, by kafka-python's names (security_protocol, sasl_*, ssl_*, session_timeout_ms, ...):
    # translated for the librdkafka clients; one with no librdkafka equivalent is an error at load
    # (core.bus.options)
    kafka: dict = field(default_factory=dict)
    # confluent = librdkafka (confluent-kafka): ~3x less CPU per record than kafka-python, measured
    producer_client: str = "confluent"          # confluent | kafka-python
    consumer_client: str = "confluent"          # confluent | kafka-python
    # embedded bus only: records held in memory before the ingest routes answer 503 (backpressure)
    max_held_records: int = 200_000

    def validate(self) -> None:
        if self.type not in ("embedded", "kafka"):
            raise ValueError(f"type must be embedded or kafka, got {self.type!r}")
        at_least(self, 1, "partitions", "replication_factor", "batch_size", "max_poll_records", "max_held_records")
        at_least(self, 0, "linger_ms", "fetch_max_wait_ms")
        if self.compression == "none":
            self.compression = None
        if self.compression is not None and self.compression not in COMPRESSION:
            raise ValueError(f"compression must be none, {', '.join(COMPRESSION)}, got {self.compression!r}")
        if not self.bootstrap.strip():
            raise ValueError("bootstrap must name at least one broker (host:port, comma separated)")
        if not all(c.isascii() and (c.isalnum() or c in "._-") for c in self.topic_prefix):
            raise ValueError(f"topic_prefix may hold only ASCII letters, digits, '.', '_' and '-' (Kafka topic "
                             f"names), got {self.topic_prefix!r}")
        if self.producer_client not in ("kafka-python", "confluent"):
            raise ValueError(f"producer_client must be kafka-python or confluent, got {self.producer_client!r}")
        if self.consumer_client not in ("kafka-python", "confluent"):
            raise ValueError(f"consumer_client must be kafka-python or confluent, got {self.consumer_client!r}")
        if not isinstance(self.kafka, dict):
            raise ValueError("kafka must be a mapping of kafka-python option names to values")
        from core.bus.options import check
        check(self.kafka, self.producer_client, self.consumer_client)


@dataclass
class StoreConfig:
    type: str = "sqlite"
    path: str = ""                       # sqlite file; default <data_dir>/warden.db
    hosts: list[str] = field(default_factory=lambda: ["http://127.0.0.1:9200"])
    index_prefix: str = "warden"
    api_key: str | None = None
    verify_certs: bool = True
    ca_certs: str | None = None
    bulk_max: int = 500
    max_buffer: int = 0                  # pending documents before a write must flush (0 = 20 x bulk_max)

    def validate(self) -> None:
        if self.type not in ("sqlite", "elasticsearch"):
            raise ValueError(f"type must be sqlite or elasticsearch, got {self.type!r}")
        at_least(self, 1, "bulk_max")
        at_least(self, 0, "max_buffer")
        if not self.hosts or not all(isinstance(h, str) and is_url(h) for h in self.hosts):
            raise ValueError(f"hosts must be a list of http:// or https:// URLs, got {self.hosts!r}")
        p = self.index_prefix
        if not p or p != p.lower() or p[0] in "-_+" or set(p) & _ES_INDEX_BAD:
            raise ValueError(f"index_prefix must be a lower-case Elasticsearch index name (no spaces or "
                             f"\\/*?\"<>|,#:, not starting with - _ +), got {p!r}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key is empty (omit it, or set WARDEN_ES_API_KEY)")


@dataclass
class HttpConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    max_body_bytes: int = 4 << 20
    # mTLS / TLS (issue 7): server certificate and key; client_ca makes client certificates required
    tls_cert: str | None = None
    tls_key: str | None = None
    client_ca: str | None = None
    # token bucket per client (IP, or token when given): requests per second and burst; 0 = off
    rate_limit_rps: float = 200.0
    rate_limit_burst: int = 400
    metrics: bool = True                 # Prometheus /metrics on this server
    metrics_max_age_s: float = 1.0       # /metrics answers a render at most this old (one render per this; 0: each scrape)
    ui: bool = True                      # the triage web page at /ui (agent/ui; sign-in with the token or mTLS)
    ui_redaction: str = "secrets"        # prompt excerpts on the page: none | secrets | full
    # secure default (agent.http.auth): no token and no client_ca is refused, except on loopback with this
    allow_unauthenticated: bool = False
    # scoped tokens {name: {token | token_env | token_file, scopes: [ingest, guard, read, admin]}}
    tokens: dict = field(default_factory=dict)
    max_decompressed_bytes: int = 16 << 20   # cap on a gzip request body once decoded (413 beyond)
    # a gzip body decoding to more than this many times its compressed size is refused (413) once
    # 1 MiB is decoded: a gzip bomb costs its first MiB (JSON telemetry compresses 5-20x); 0: off
    max_gzip_ratio: float = 100.0
    head_timeout_s: float = 10.0         # request head (line + headers) must arrive within this
    body_timeout_s: float = 30.0         # request body must arrive within this (408 beyond)
    idle_timeout_s: float = 5.0          # keep-alive connections idle this long are closed
    max_header_bytes: int = 16 << 10     # request head size cap
    max_connections: int = 1000          # concurrent connections + requests (503 beyond)
    max_inflight_per_client: int = 16    # one client's requests in the handlers at once (429 beyond); 0 = off
    max_connections_per_address: int = 256   # open connections from one client address (429 + close beyond); 0 = off
    tarpit_s: float = 1.0                # a request over the rate limit gets its 429 this much later (0: at once)
    rate_limit_error_cost: float = 5.0   # rate-limit tokens a request answered 4xx (not 429) costs; 1: like any
    # all clients' 4xx answers (not 429) per second, burst twice that; while spent, a client that got a
    # 4xx within error_memory_s is refused (429, tarpit); clients without errors never are; 0: off
    error_budget_rps: float = 100.0
    error_memory_s: float = 10.0
    # HTTP parser h11 (Python) | httptools (C) and event loop asyncio | uvloop (C); auto: the C one when installed
    parser: str = "auto"
    loop: str = "auto"
    handler_threads: int = 8             # worker threads for handlers that may block (clients in turn)
    inline_max_bytes: int = 4096         # bodies up to this run on the event loop in handlers that never wait
    switch_interval_ms: float = 0.0      # the process's interpreter-lock switch interval while serving (0: leave Python's 5 ms)
    # handler threads and the pipeline's stage threads run this many nice levels below the event
    # loop's thread (Linux); 0: same priority (measured: 5 raised the median, README "Robustness")
    background_nice: int = 0
    # addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (the client
    # address then comes from the header: rate limits, connection caps, logs); empty: headers ignored
    trusted_proxies: list = field(default_factory=list)

    def validate(self) -> None:
        from agent.http.auth import parse_tokens
        parse_tokens(self.token, self.tokens)       # every token's length is checked there
        if min(self.head_timeout_s, self.body_timeout_s, self.idle_timeout_s) <= 0:
            raise ValueError("head_timeout_s, body_timeout_s and idle_timeout_s must be > 0")
        if not 0 <= self.port < 65536:
            raise ValueError(f"port out of range: {self.port}")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key go together")
        if self.client_ca and not self.tls_cert:
            raise ValueError("client_ca (mTLS) needs tls_cert and tls_key")
        if self.rate_limit_rps < 0 or self.rate_limit_burst < 0 or self.max_inflight_per_client < 0:
            raise ValueError("rate limits and max_inflight_per_client must be >= 0")
        if self.handler_threads < 1 or min(self.inline_max_bytes, self.switch_interval_ms,
                                           self.max_connections_per_address, self.tarpit_s) < 0 \
                or self.rate_limit_error_cost < 1:
            raise ValueError("handler_threads and rate_limit_error_cost must be >= 1; inline_max_bytes, "
                             "switch_interval_ms, max_connections_per_address and tarpit_s >= 0")
        if self.error_budget_rps < 0 or self.error_memory_s < 0:
            raise ValueError("error_budget_rps and error_memory_s must be >= 0 (0: no error budget)")
        if self.metrics_max_age_s < 0:
            raise ValueError("metrics_max_age_s must be >= 0 (0: render every scrape)")
        if self.max_gzip_ratio < 0:
            raise ValueError("max_gzip_ratio must be >= 0 (0: only max_decompressed_bytes)")
        if not 0 <= self.background_nice <= 19:
            raise ValueError("background_nice must be within 0-19 (nice levels below the event loop)")
        if self.parser not in ("auto", "h11", "httptools") or self.loop not in ("auto", "asyncio", "uvloop"):
            raise ValueError("parser must be auto, h11 or httptools; loop auto, asyncio or uvloop")
        if self.ui_redaction not in ("none", "secrets", "full"):
            raise ValueError("ui_redaction must be none, secrets or full")
        if not isinstance(self.trusted_proxies, list) or not all(
                isinstance(a, str) and a.strip() and a.strip() != "*" for a in self.trusted_proxies):
            raise ValueError("trusted_proxies must be a list of proxy addresses or networks ('*' would let "
                             "any client name its own address)")
        for a in self.trusted_proxies:      # uvicorn takes anything else as a name no peer ever has
            try:
                ipaddress.ip_network(a.strip(), strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {a!r} is not an IP address or network (10.0.0.0/8, "
                                 "192.168.1.10)") from None
        if not self.host.strip():
            raise ValueError("host must name an address to listen on (127.0.0.1, 0.0.0.0, ::)")


@dataclass
class PipelineConfig:
    batch_size: int = 1000
    checkpoint_interval_s: float = 1.0
    group_prefix: str = "warden-"
    state: str = "sqlite"                # checkpoint state store: sqlite (one host) | kafka (compacted topic, shared)
    tracing: str = "none"                # OpenTelemetry spans per stage batch: none | console | otlp
    tracing_endpoint: str | None = None  # OTLP/HTTP traces endpoint (default the SDK's)
    log_format: str = "text"             # text | json (structured logs)
    gc_threshold: int = 50_000           # young-generation GC threshold while stages run (0: Python's default)

    def validate(self) -> None:
        if self.gc_threshold < 0:
            raise ValueError("gc_threshold must be >= 0 (0 keeps Python's default)")
        at_least(self, 1, "batch_size")
        if self.checkpoint_interval_s <= 0:
            raise ValueError(f"checkpoint_interval_s must be > 0, got {self.checkpoint_interval_s!r}")
        if self.tracing_endpoint is not None and not is_url(self.tracing_endpoint):
            raise ValueError(f"tracing_endpoint must be an http:// or https:// URL, got {self.tracing_endpoint!r}")
        if self.state not in ("sqlite", "kafka"):
            raise ValueError(f"state must be sqlite or kafka, got {self.state!r}")
        if self.tracing not in ("none", "console", "otlp"):
            raise ValueError(f"tracing must be none, console or otlp, got {self.tracing!r}")
        if self.log_format not in ("text", "json"):
            raise ValueError(f"log_format must be text or json, got {self.log_format!r}")


_SECTIONS = {"bus": BusConfig, "store": StoreConfig, "http": HttpConfig, "pipeline": PipelineConfig}


# what runs when the config names no detectors: something for each of the three streams, so
# `warden replay trail.json --format cloudtrail` with no config alerts on what the rules describe
DEFAULT_DETECTORS: dict[str, dict] = {
    "baseline/default": {},                                        # telemetry: any metric
    "gpu_memory_leak/default": {}, "straggler/default": {}, "slo_burn/default": {}, "error_burst/default": {},
    "sigma/default": {}, "ueba/default": {},                       # audit: rules and behaviour baselines
    "prompt_guard/default": {}, "extraction/default": {},          # inference traffic
    "drift/default": {"reference_size": 200},                      # reference: each endpoint's first 200 requests
}


@dataclass
class WardenConfig:
    bus: BusConfig = field(default_factory=BusConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    collectors: dict[str, dict] = field(default_factory=dict)
    detectors: dict[str, dict] = field(default_factory=lambda: {k: dict(v) for k, v in DEFAULT_DETECTORS.items()})
    responders: dict[str, dict] = field(default_factory=dict)
    policies: list[str] = field(default_factory=list)
    data_dir: str = ".warden"
    source: str = "<defaults>"
    #: the config file's folder: relative file options of components are read from there (None: the
    #: working directory, for a config not read from a file)
    config_dir: str | None = None

    @property
    def sqlite_path(self) -> Path:
        return Path(self.store.path) if self.store.path else Path(self.data_dir) / "warden.db"


#: the top-level keys of a config file (WardenConfig's fields but where it came from)
SECTION_NAMES = frozenset(f.name for f in dataclasses.fields(WardenConfig)) - {"source", "config_dir"}


class _Section:
    """Adapter so build_config can build a plain section dataclass."""

    def __init__(self, cfg_cls):
        self.Config = cfg_cls


def parse(raw: dict[str, Any] | None, source: str = "<dict>") -> WardenConfig:
    raw = dict(raw or {})
    known = SECTION_NAMES
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    cfg = WardenConfig(source=source)
    for name, cls in _SECTIONS.items():
        sec = raw.get(name) or {}
        if not isinstance(sec, dict):
            raise ConfigError(f"{source}: {name} must be a mapping")
        setattr(cfg, name, build_config(_Section(cls), sec, where=name))
    for name in ("collectors", "detectors", "responders"):
        if name in raw:
            sec = raw[name] or {}
            if not isinstance(sec, dict):
                raise ConfigError(f"{source}: {name} must be a mapping of 'type/name' to options")
            for k, v in sec.items():
                if "/" not in str(k):
                    raise ConfigError(f"{source}: {name}.{k}: names are 'type/name'")
                if v is not None and not isinstance(v, dict):
                    raise ConfigError(f"{source}: {name}.{k}: options must be a mapping")
            setattr(cfg, name, {str(k): dict(v or {}) for k, v in sec.items()})
    if "policies" in raw:
        pol = raw["policies"] or []
        if not isinstance(pol, list) or not all(isinstance(p, str) for p in pol):
            raise ConfigError(f"{source}: policies must be a list of file paths")
        cfg.policies = pol
    if "data_dir" in raw:
        if not isinstance(raw["data_dir"], str) or not raw["data_dir"].strip():
            # a list became a folder named "[1]"; "" the working directory
            raise ConfigError(f"{source}: data_dir must be a folder path, got {raw['data_dir']!r}")
        cfg.data_dir = raw["data_dir"]
    _apply_env(cfg)
    return cfg


def _apply_env(cfg: WardenConfig) -> None:
    env = os.environ
    if env.get("WARDEN_BUS"):
        cfg.bus.type = env["WARDEN_BUS"]
    if env.get("WARDEN_KAFKA_BOOTSTRAP"):
        cfg.bus.bootstrap = env["WARDEN_KAFKA_BOOTSTRAP"]
    if env.get("WARDEN_STORE"):
        cfg.store.type = env["WARDEN_STORE"]
    if env.get("WARDEN_ES_HOSTS"):
        cfg.store.hosts = [h.strip() for h in env["WARDEN_ES_HOSTS"].split(",") if h.strip()]
    if env.get("WARDEN_ES_API_KEY"):
        cfg.store.api_key = env["WARDEN_ES_API_KEY"]
    if env.get("WARDEN_HTTP_TOKEN"):
        cfg.http.token = env["WARDEN_HTTP_TOKEN"]
    if env.get("WARDEN_DATA_DIR"):
        cfg.data_dir = env["WARDEN_DATA_DIR"]
    for name in ("http", "bus", "store"):   # the overrides are checked like the file: WARDEN_HTTP_TOKEN too
        try:
            getattr(cfg, name).validate()
        except ValueError as e:
            raise ConfigError(f"{name}: {e}") from None


def load(path: str | os.PathLike | None = None) -> WardenConfig:
    """Load the config file (or WARDEN_CONFIG, or ./warden.yaml if present, or defaults); relative
    file paths in it are read from the config file's folder (`relative_to_config`)."""
    path = path or os.environ.get("WARDEN_CONFIG")
    if path is None and Path("warden.yaml").exists():
        path = "warden.yaml"
    if path is None:
        return parse({}, "<defaults>")
    cfg = parse(relative_to_config(read_config_file(path), path), str(path))
    cfg.config_dir = config_dir(path)
    return cfg


def config_dir(config_path: str | os.PathLike) -> str:
    """The folder relative paths of a config file are read from."""
    return str(Path(config_path).resolve().parent)


#: file paths of the sections, by (section, key); `policies` and `data_dir` are top-level
_SECTION_PATHS = (("store", "path"), ("store", "ca_certs"), ("http", "tls_cert"), ("http", "tls_key"),
                  ("http", "client_ca"))


def relative_to_config(raw: dict[str, Any], config_path: str | os.PathLike) -> dict[str, Any]:
    """`raw` with its relative file paths made absolute against the config file's folder (the config
    means the same from any working directory): `policies`, `data_dir`, `store.path`,
    `store.ca_certs`, `http.tls_cert` / `tls_key` / `client_ca`, `http.tokens.*.token_file` (`~`
    is the home folder). Component options typed FilePath (a detector's `model_path`, Sigma
    `rules`, ...) are read from the same folder when the component is built (`WardenConfig.config_dir`,
    core.component.build_config). Values of the wrong type are left for validation."""
    base = config_dir(config_path)

    def fix(value: Any) -> Any:
        return resolve_path(value, base)

    out = dict(raw)
    if isinstance(out.get("policies"), list):
        out["policies"] = [fix(p) for p in out["policies"]]
    if "data_dir" in out:
        out["data_dir"] = fix(out["data_dir"])
    for section, key in _SECTION_PATHS:
        if isinstance(out.get(section), dict) and key in out[section]:
            out[section] = {**out[section], key: fix(out[section][key])}
    tokens = out["http"].get("tokens") if isinstance(out.get("http"), dict) else None
    if isinstance(tokens, dict):
        out["http"] = {**out["http"], "tokens": {
            name: {**t, "token_file": fix(t["token_file"])} if isinstance(t, dict) and "token_file" in t else t
            for name, t in tokens.items()}}
    return out


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping a config file holds ({} when empty); ConfigError saying why it cannot be read."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config {p}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not a YAML text file (not UTF-8 at byte {e.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {e}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{p}: the top level must be a mapping")
    return raw or {}
