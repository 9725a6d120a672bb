"""Collectors: one module per source. Each turns its input into agent.event.Event."""
