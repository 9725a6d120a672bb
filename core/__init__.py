"""warden's ground floor: the event model, codec, names, times and durations, errors, bus, stores,
checkpoint state, registry and component API, and the HTTP / Alertmanager wire types the plug-ins
use. It imports nothing of warden above it (pyproject.toml [tool.importlinter])."""
