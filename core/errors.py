"""Errors with messages meant for users."""


class WardenError(Exception):
    """Base of warden's user-facing errors."""


class ConfigError(WardenError):
    """A configuration value is missing, unknown or invalid; the message names the path."""


class InputError(WardenError):
    """A file or folder warden was given cannot be used (a folder where a file belongs, not a
    database, no series or rows in it); the message names it and says why."""
