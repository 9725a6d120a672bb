"""The bus: topics of keyed records, consumer groups, manual offset commits.

Two implementations with the same semantics: `embedded` (in-process, default) and `kafka`.
"""
from core.bus.base import Bus, CommitDeferred, Consumer, NotSupported, Producer, Record, partition_for  # noqa: F401


def create_bus(cfg, spool_dir=None, spooled=(), counters=None) -> "Bus":
    """Build the bus named by the config's `bus` section (agent.config.BusConfig). The embedded bus
    also appends the `spooled` topics to files under `spool_dir` (Kafka keeps every topic)."""
    if cfg.type == "embedded":
        from core.bus.embedded import EmbeddedBus
        return EmbeddedBus(partitions=cfg.partitions, prefix=cfg.topic_prefix, max_held=cfg.max_held_records,
                           spool_dir=spool_dir, spooled=spooled, counters=counters)
    if cfg.type == "kafka":
        from core.bus.kafka import KafkaBus
        return KafkaBus(cfg)
    raise ValueError(f"unknown bus type {cfg.type!r} (embedded, kafka)")
