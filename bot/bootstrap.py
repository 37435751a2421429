"""The composition root: the one place where settings, storage, adapters and use cases are wired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.auth import AccessVerifier
from bot.cloudflare.client import CloudflareClient
from bot.config import Settings
from bot.domain.clock import Clock, SystemClock
from bot.domain.durations import parse_duration
from bot.domain.policy import Policy
from bot.metrics import Metrics
from bot.reconcile import periodic_reconcile
from bot.scheduler import Scheduler
from bot.services.context import Deps
from bot.slack.app import build_app
from bot.slack.directory import SlackDirectory
from bot.slack.notifier import Notifier
from bot.slack.socket_mode import SocketModeRunner
from bot.storage.engine import make_engine
from bot.storage.locks import Locker
from bot.storage.migrate import upgrade
from bot.storage.notify import WorkListener
from bot.storage.store import Store
from bot.web import ACCEPTING, build_web_app, drain_in_flight

log = logging.getLogger(__name__)


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


@dataclass
class Bot:
    """Everything `serve` runs, built and wired."""

    settings: Settings
    deps: Deps
    scheduler: Scheduler
    web_app: web.Application
    cloudflare: CloudflareClient
    slack: AsyncWebClient
    metrics: Metrics
    bolt: AsyncApp | None = None
    api: AccessVerifier | None = None

    async def close(self) -> None:
        """Release clients and the database."""
        await self.cloudflare.aclose()
        if self.api is not None:
            await self.api.aclose()
        with contextlib.suppress(Exception):
            session = getattr(self.slack, "session", None)
            if session is not None:
                await session.close()
        await self.deps.store.engine.dispose()


async def build(settings: Settings, policy: Policy, *, clock: Clock | None = None, migrate: bool = True,
                max_sleep: float = 5.0, early_ack: bool = True) -> Bot:
    """Build the bot from validated settings and policy; applies migrations unless told not to."""
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    if migrate:
        await upgrade(engine)
    store = Store(engine, clock)
    cloudflare = CloudflareClient(settings.cloudflare_api_url, _secret(settings.cloudflare_api_token),
                                  timeout=settings.accessbot_cf_timeout)
    slack = AsyncWebClient(token=_secret(settings.slack_bot_token), base_url=settings.slack_api_url, timeout=10)
    directory = SlackDirectory(slack)
    deps = Deps(store=store, clock=clock, policy=policy, directory=directory, groups=cloudflare,
                revoke_alert_after=_duration(settings.accessbot_revoke_alert_after, timedelta(minutes=3)))
    notifier = Notifier(deps, slack, directory)
    scheduler = Scheduler(deps, Locker(engine), notifier.handlers(), max_sleep=max_sleep)
    metrics = Metrics()
    # In Socket Mode no request comes over HTTP: a random secret makes /slack/events refuse every caller.
    signing_secret = _secret(settings.slack_signing_secret) or secrets.token_hex(32)
    bolt = build_app(deps, slack, signing_secret, early_ack=early_ack)
    api = None
    if settings.api_enabled:
        assert settings.cf_access_team_domain and settings.cf_access_aud
        api = AccessVerifier(settings.cf_access_team_domain, settings.cf_access_aud)
    web_app = build_web_app(deps, bolt, scheduler, signing_secret, metrics, early_ack=early_ack, api=api,
                            slack_over_http=not settings.socket_mode)
    return Bot(settings, deps, scheduler, web_app, cloudflare, slack, metrics, bolt, api)


def _duration(value: Any, default: timedelta) -> timedelta:
    if value is None:
        return default
    if isinstance(value, timedelta):
        return value
    return parse_duration(str(value))


class Server:
    """A running bot: the HTTP site and the scheduler, stopped together."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.runner: web.AppRunner | None = None
        self.port: int | None = None
        self._scheduler_task: asyncio.Task | None = None
        self._reconcile_task: asyncio.Task | None = None
        self._listener: WorkListener | None = None
        self.socket: SocketModeRunner | None = None
        self._stop_reconcile = asyncio.Event()

    async def start(self, host: str, port: int) -> int:
        """Start listening and scheduling; returns the bound port."""
        self.runner = web.AppRunner(self.bot.web_app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1] if sockets else port
        settings = self.bot.settings
        if settings.socket_mode and self.bot.bolt is not None and settings.slack_app_token is not None:
            self.socket = SocketModeRunner(self.bot.bolt, settings.slack_app_token.get_secret_value(),
                                           settings.slack_api_url, self.bot.web_app, self.bot.metrics,
                                           deps=self.bot.deps)
            try:
                await self.socket.start()
            except BaseException:
                self.socket = None
                await self.runner.cleanup()
                raise
        if self.bot.deps.store.pg:
            self._listener = WorkListener(self.bot.settings.database_url, self.bot.scheduler.wake)
            await self._listener.start()
        self._scheduler_task = asyncio.create_task(self.bot.scheduler.run(), name="scheduler")
        interval = self.bot.settings.accessbot_reconcile_interval
        if interval and interval.total_seconds() > 0:
            self._reconcile_task = asyncio.create_task(
                periodic_reconcile(self.bot.deps, self.bot.scheduler.locker, interval, self._stop_reconcile),
                name="reconcile")
        return self.port

    async def stop(self) -> None:
        """Stop taking requests, let in-flight work finish, then close everything."""
        self.bot.web_app[ACCEPTING] = False
        await drain_in_flight(self.bot.web_app)
        if self.socket:
            await self.socket.stop()
        self._stop_reconcile.set()
        if self._reconcile_task:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._reconcile_task, timeout=30)
        await self.bot.scheduler.stop()
        if self._scheduler_task:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._scheduler_task, timeout=30)
        if self._listener:
            await self._listener.stop()
        if self.runner:
            await self.runner.cleanup()
        await self.bot.close()


async def serve_forever(bot: Bot, host: str, port: int) -> None:
    """Run until SIGTERM or SIGINT, then shut down cleanly."""
    server = Server(bot)
    bound = await server.start(host, port)
    mode = "Slack over Socket Mode" if server.socket else "Slack over HTTP at /slack/events"
    log.info("accessbot listening on %s:%s (%s)", host, bound, mode)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down: finishing in-flight work")
    await server.stop()
    log.info("stopped")
