"""What the Slack driver hands back: the bot's HTTP answer, or a Socket Mode envelope's ack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


@dataclass(frozen=True)
class DriverResponse:
    """The bot's answer: HTTP status, body text, the body parsed as JSON (None if not JSON), seconds taken."""

    status: int
    body: str
    json: Any | None
    elapsed: float


class SocketAck(NamedTuple):
    """One Socket Mode envelope's answer: its envelope_id, the app's ack (``sim.socket_acks`` entry:
    ``envelope_id``, ``payload``, ``at``, ``elapsed``, ``connection``) and the seconds the ack took."""

    envelope_id: str
    ack: dict[str, Any]
    elapsed: float
