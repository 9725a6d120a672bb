"""Who a guarded request comes from: the keys a block can name.

End user, session and API key identify one user of a product; `client` names the calling
application (`web-frontend`), which serves every user at once. Read from a request body or an
event's attributes (OpenTelemetry gen_ai / enduser conventions and warden's own names).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

END_USER_FIELDS = ("end_user", "enduser.id", "user", "gen_ai.request.user", "user_id")
SESSION_FIELDS = ("session_id", "session.id", "gen_ai.conversation.id", "conversation_id")
API_KEY_FIELDS = ("api_key", "api_key_id", "api_key.id")
CLIENT_FIELDS = ("client_id", "client.id", "gen_ai.client.id")
KINDS = ("end_user", "session", "api_key", "client")


def _first(rec: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for n in names:
        v = rec.get(n)
        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v):
            return str(v)
    return None


@dataclass(frozen=True)
class RequestKeys:
    end_user: str | None = None
    session: str | None = None
    api_key: str | None = None
    client: str | None = None

    @classmethod
    def of(cls, rec: Any) -> "RequestKeys":
        if not isinstance(rec, Mapping):
            return cls()
        meta = rec.get("metadata") if isinstance(rec.get("metadata"), Mapping) else {}
        return cls(end_user=_first(rec, END_USER_FIELDS) or _first(meta, END_USER_FIELDS),
                   session=_first(rec, SESSION_FIELDS) or _first(meta, SESSION_FIELDS),
                   api_key=_first(rec, API_KEY_FIELDS), client=_first(rec, CLIENT_FIELDS))

    def items(self) -> list[tuple[str, str]]:
        return [(k, getattr(self, k)) for k in KINDS if getattr(self, k)]
