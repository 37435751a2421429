"""A bare slack-bolt `AsyncApp` that only acks `/access` and the Approve button, served like the bot (aiohttp).

Run: `python -m benchmarks.bare_app SLACK_API_URL [--process-before-response]`; prints `listening on HOST:PORT`.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.simulators.stack import SIGNING_SECRET, SLACK_TOKEN
from bot.slack.blocks import APPROVE


def make_app(slack_url: str, process_before_response: bool) -> web.Application:
    """The aiohttp application serving a bolt app whose only listeners ack `/access` and the Approve button."""
    bolt = AsyncApp(client=AsyncWebClient(token=SLACK_TOKEN, base_url=slack_url), signing_secret=SIGNING_SECRET,
                    process_before_response=process_before_response)

    @bolt.command("/access")
    async def _ack(ack) -> None:  # noqa: ANN001 - bolt injects it by name
        await ack()

    @bolt.action(APPROVE)
    async def _ack_click(ack) -> None:  # noqa: ANN001 - bolt injects it by name
        await ack()

    async def events(request: web.Request) -> web.Response:
        """Hand the request to bolt, answer what it answers."""
        bolt_req = await to_bolt_request(request)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_req))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    return app


async def serve(slack_url: str, process_before_response: bool) -> None:
    """Serve on a free port of 127.0.0.1 until killed."""
    runner = web.AppRunner(make_app(slack_url, process_before_response), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"bare app listening on {host}:{port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("slack_url")
    parser.add_argument("--process-before-response", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.slack_url, args.process_before_response))
