"""Truthful health: stage heartbeats (heartbeat.py) and the verdict drawn from them (verdict.py)."""
