"""Errors with messages meant for users."""


class WardenError(Exception):
    """Base of warden's user-facing errors."""


class ConfigError(WardenError):
    """A configuration value is missing, unknown or invalid; the message names the path."""


class InputError(WardenError):
    """An input file or folder holds nothing usable (no series, no rows); the message says why."""
