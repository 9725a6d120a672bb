"""Metric anomaly detectors: one concept per module, all on the API of detectors.base.

Series key = (event.entity, event.name) for events of kind "metric" with a numeric value.
"""
