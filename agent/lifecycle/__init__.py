"""The act stage's notification side: grouping timers (group_wait / group_interval /
repeat_interval) and the bounded delivery retry buffer."""
