"""Prompt-guard benchmarks: leave-one-source-out quality (loso.py, candidates.py), everyday prompts
and latency (latency.py); `warden bench guard` and `python -m bench.guard` run them (cli.py)."""
