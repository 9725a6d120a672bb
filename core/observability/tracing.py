"""OpenTelemetry traces of the pipeline: one span per stage batch and per checkpoint.

Off by default (`pipeline.tracing: none`): `enabled()` is one global read on the hot path.
`console` prints spans (debugging); `otlp` exports over OTLP/HTTP when the exporter package
(opentelemetry-exporter-otlp-proto-http) is installed, to `pipeline.tracing_endpoint`.
Tests can pass their own exporter (e.g. InMemorySpanExporter).
"""
from __future__ import annotations

import contextlib
import logging

log = logging.getLogger("warden.tracing")
_tracer = None
_provider = None


def enabled() -> bool:
    return _tracer is not None


def setup(kind: str = "none", endpoint: str | None = None, *, exporter=None, service: str = "warden") -> bool:
    """Install a tracer provider for warden's spans. Returns whether tracing is on."""
    global _tracer, _provider
    if exporter is None and kind in (None, "", "none"):
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    if exporter is None:
        if kind == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter
            exporter = ConsoleSpanExporter()
        elif kind == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError:
                log.error("tracing: otlp needs opentelemetry-exporter-otlp-proto-http; tracing stays off")
                return False
            exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
        else:
            raise ValueError(f"unknown tracing exporter {kind!r} (none, console, otlp)")
        processor = BatchSpanProcessor(exporter)
    else:
        processor = SimpleSpanProcessor(exporter)
    _provider = TracerProvider(resource=Resource.create({"service.name": service}))
    _provider.add_span_processor(processor)
    _tracer = _provider.get_tracer("warden.pipeline")
    return True


def shutdown() -> None:
    global _tracer, _provider
    if _provider is not None:
        try:
            _provider.shutdown()
        except Exception:  # noqa: BLE001
            pass
    _tracer = _provider = None


@contextlib.contextmanager
def span(name: str, **attributes):
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes={f"warden.{k}": v for k, v in attributes.items()}) as s:
        yield s
