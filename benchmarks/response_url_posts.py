"""Benchmark: response_url replies by bolt's `respond()` (a session per reply) against the bot's one shared session.

Run: `.venv/bin/python benchmarks/response_url_posts.py [N] [CONCURRENCY]` (defaults 2000 and 50). The hook
server runs in a child process, so the CPU figure is the replying side's alone; the two ways alternate three
times to even out machine noise.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.slack.response_urls import ResponseUrls, ephemeral


def serve_hooks(port: int) -> None:
    """A response_url endpoint answering `ok`, as Slack does (in the child process)."""
    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks/{tag}", hook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def timed(post: Callable[[str], Awaitable[object]], url: str, n: int, concurrency: int) -> tuple[float, float]:
    """(replies per second, CPU milliseconds per reply) for n replies, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            await post(f"{url}/hooks/t{i}")

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) * 1000 / n


async def main(n: int, concurrency: int, port: int) -> None:
    """Alternate the two ways three times and print each run and the medians."""
    url = f"http://127.0.0.1:{port}"
    shared = ResponseUrls()

    async def bolt_respond(hook: str) -> object:
        return await AsyncRespond(response_url=hook)(text="reply", response_type="ephemeral",
                                                     replace_original=False)

    async def one_session(hook: str) -> object:
        return await shared.post(hook, ephemeral("reply"))

    results: dict[str, list[tuple[float, float]]] = {"bolt respond()": [], "one shared session": []}
    await timed(bolt_respond, url, 200, concurrency)  # warm up both
    await timed(one_session, url, 200, concurrency)
    for _ in range(3):
        for name, post in (("bolt respond()", bolt_respond), ("one shared session", one_session)):
            rate, cpu = await timed(post, url, n, concurrency)
            results[name].append((rate, cpu))
            print(f"{name:20s} {rate:8.1f} replies/s   {cpu:5.2f} ms CPU per reply")
    await shared.aclose()
    for name, runs in results.items():
        print(f"median {name:20s} {statistics.median(r for r, _ in runs):8.1f} replies/s   "
              f"{statistics.median(c for _, c in runs):5.2f} ms CPU per reply")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    chosen = free_port()
    server = multiprocessing.Process(target=serve_hooks, args=(chosen,), daemon=True)
    server.start()
    time.sleep(1.0)
    try:
        asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000,
                         int(sys.argv[2]) if len(sys.argv) > 2 else 50, chosen))
    finally:
        server.terminate()
        server.join()
