"""Alert and action stores: one interface, SQLite (embedded default) and Elasticsearch."""
from core.stores.base import AlertQuery, AlertStore  # noqa: F401


def create_store(cfg) -> "AlertStore":
    if cfg.store.type == "sqlite":
        from core.stores.sqlite import SqliteStore
        return SqliteStore(cfg.sqlite_path)
    if cfg.store.type == "elasticsearch":
        from core.stores.elasticsearch import ElasticsearchStore
        return ElasticsearchStore(cfg.store)
    raise ValueError(f"unknown store type {cfg.store.type!r}")
