"""The act stage's executor of responder actions (safety checks, the action log, undo and timed
auto-revert; the rules themselves are in policy/)."""
