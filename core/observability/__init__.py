"""warden's own observability: Prometheus metrics (/metrics), OpenTelemetry traces, structured logs."""
