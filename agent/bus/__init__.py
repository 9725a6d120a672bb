"""The bus: topics of keyed records, consumer groups, manual offset commits.

Two implementations with the same semantics: `embedded` (in-process, default) and `kafka`.
"""
from agent.bus.base import Bus, Consumer, NotSupported, Producer, Record, partition_for  # noqa: F401


def create_bus(cfg) -> "Bus":
    """Build the bus named by the config's `bus` section (agent.config.BusConfig)."""
    if cfg.type == "embedded":
        from agent.bus.embedded import EmbeddedBus
        return EmbeddedBus(partitions=cfg.partitions)
    if cfg.type == "kafka":
        from agent.bus.kafka import KafkaBus
        return KafkaBus(cfg)
    raise ValueError(f"unknown bus type {cfg.type!r} (embedded, kafka)")
