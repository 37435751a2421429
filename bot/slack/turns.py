"""Acked work takes turns: listeners start one after another, so the next request's ack never queues behind many.

Work after an ack shares the event loop with the acks. When many listeners run at once, each step one of them
is ready to take stands between the loop and the next request's ack; at one request at a time, Slack's acks then
wait for about as much work as arrives. Taking turns keeps one listener's work at a time ahead of an ack: the
next listener starts when the one before finishes, or once it has run `grace` seconds (it is waiting on
something slow, a Slack or PagerDuty call, and holds nobody up while it waits); at most `limit` run at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# How long a listener keeps its turn before the next may start beside it (it is waiting on the network, not
# running): longer than a listener's work on the database, shorter than a call to Slack.
GRACE = 0.02


class Turns:
    """Starts listeners one at a time (the next when the last ends or after `grace` s), at most `limit` at once."""

    def __init__(self, limit: int, grace: float = GRACE) -> None:
        """Turns for at most `limit` listeners at once, each holding its turn up to `grace` seconds."""
        self.grace = grace
        self._slots = asyncio.Semaphore(limit)
        self._turn = asyncio.Lock()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Run the block once a slot is free and it is this block's turn; the turn passes on when the block ends
        or after `grace` seconds, whichever comes first."""
        async with self._slots:
            await self._turn.acquire()
            passed = False

            def pass_turn() -> None:
                nonlocal passed
                if not passed:
                    passed = True
                    self._turn.release()

            timer = asyncio.get_running_loop().call_later(self.grace, pass_turn)
            try:
                yield
            finally:
                timer.cancel()
                pass_turn()
