"""The Slack simulator's auth family: ``auth.test``, the bot token's scopes and the scope headers Slack sends."""

from __future__ import annotations

from typing import Any

# The bot scopes of manifest.yml, which a token has unless a test says otherwise (``sim.scopes``).
BOT_SCOPES = ("commands", "chat:write", "im:write", "users:read", "users:read.email", "usergroups:read")
# The scope each method needs, as Slack's method reference lists it (methods absent here need none).
METHOD_SCOPES = {
    "chat.postMessage": "chat:write", "chat.update": "chat:write", "chat.postEphemeral": "chat:write",
    "conversations.open": "im:write", "users.info": "users:read", "users.list": "users:read",
    "users.lookupByEmail": "users:read.email", "usergroups.users.list": "usergroups:read",
}


class AuthApi:
    """``auth.test`` and the scope headers; mixed into SlackSimulator, whose ``__init__`` makes the state."""

    scopes: tuple[str, ...]
    team_id: str
    team_domain: str
    bot_user_id: str
    bot_id: str

    def _scope_headers(self, method: str) -> dict[str, str]:
        """The scope headers Slack puts on an answer to a known token: what it has, what the method takes."""
        return {"x-oauth-scopes": ",".join(self.scopes), "x-accepted-oauth-scopes": METHOD_SCOPES.get(method, "")}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        """`auth.test`: who the bot token belongs to."""
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_domain,
            "user": "accessbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }
