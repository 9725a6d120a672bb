"""The policy engine and the alert lifecycle: which findings become which alerts (policies,
correlation, steps), what mutes them (silences, inhibition, label matchers), and what may be done
about them (safety, approvals, the hash-chained action log). Imports core/ and the data in rules/."""
