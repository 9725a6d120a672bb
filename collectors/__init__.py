"""Collectors: one module per source. Each turns its input into core.event.Event."""
