"""Native streaming Sigma engine for audit logs (no SIEM): rules compiled once to Python matchers.

Modules: loader (find/parse rule files), fields (field access plan), modifiers (value matchers),
conditions (detections + condition tree), compiler (rule -> CompiledRule), correlation
(event_count / value_count / temporal / temporal_ordered windows with lateness), filters
(exclusions), engine (routing index, findings), detector (registered type "sigma"),
cli_support (`rules test` / `rules lint`).
"""
