"""warden runtime: event model, config, bus, stages, stores, HTTP API and CLI."""
__version__ = "0.1.0"
