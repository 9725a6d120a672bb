from bench.guard import _cli

raise SystemExit(_cli())
