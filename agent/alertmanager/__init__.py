"""Alertmanager both ways: warden alerts in Alertmanager's terms (model), the v2 API warden serves (api)."""
