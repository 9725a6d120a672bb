"""warden the app: the CLI, the pipeline, its stages, the HTTP server and the APIs it serves; the only
place that wires plug-in families together."""
__version__ = "0.1.0"
