"""Responders: one module per action. Each declares its parameters, required fields and permissions."""
