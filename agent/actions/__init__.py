"""Safe execution of responder actions: the hash-chained action log, protected resources, the
blast-radius limit, approvals, undo and timed auto-revert (shared by the act stage and the CLI)."""
from policy.action_log import ActionLog, VerifyResult  # noqa: F401
