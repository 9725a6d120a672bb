"""Per-principal behaviour baselines (UEBA) over audit events: registered detector type "ueba"."""
