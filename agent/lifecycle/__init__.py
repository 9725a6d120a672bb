"""The alert lifecycle, Alertmanager-style: label matchers, silences (stored), inhibition rules,
notification grouping timers (group_wait / group_interval / repeat_interval) and the persisted
counters snapshot that `warden status` reads."""
