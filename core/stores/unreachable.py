"""An Elasticsearch that cannot be reached, said as such: `with reaching(hosts): ...` turns the
client's transport errors (connection refused, timeout, TLS) into StoreUnreachable naming the
hosts and the setting, which the CLI prints as an error (exit 2) instead of elastic_transport's
traceback. The pipeline treats it like any store failure (retried, counted)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from elastic_transport import TransportError

from core.errors import WardenError


class StoreUnreachable(WardenError):
    """The configured Elasticsearch could not be reached."""


@contextmanager
def reaching(hosts: list[str]) -> Iterator[None]:
    try:
        yield
    except TransportError as e:
        raise StoreUnreachable(f"cannot reach Elasticsearch at {', '.join(hosts)} (store.hosts / WARDEN_ES_HOSTS): "
                               f"{type(e).__name__}: {str(e)[:300]}") from None
