"""Drift detection: per-feature tests (stats), MMD (mmd), text / output drift (text), sequential
streaming detection (stream), the registered detector type `drift` (detector) and the CLI helpers
(cli_support)."""
