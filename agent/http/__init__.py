"""warden's HTTP API: one threaded server; components contribute routes."""
