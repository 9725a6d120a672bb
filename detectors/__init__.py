"""Detectors: one module (or subpackage) per family, all on the API of detectors.base."""
