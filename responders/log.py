"""Log notifier: writes one line per alert to the warden log (and stdout in the demo)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from core.registry import register
from responders.base import Responder

log = logging.getLogger("warden.notify")


@register
class LogResponder(Responder):
    type = "log"
    action = "notify"
    notifies = True

    @dataclass
    class Config:
        level: str = "warning"

        def validate(self) -> None:
            if self.level not in ("debug", "info", "warning", "error"):
                raise ValueError("level must be debug, info, warning or error")

    def execute(self, action, alert):
        log.log(getattr(logging, self.config.level.upper()), "[%s] %s %s: %s (x%d)", alert.status,
                alert.severity, alert.entity, alert.title, alert.count)
        return {"logged": True}
