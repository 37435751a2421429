"""The composition root: the one place where settings, storage, adapters and use cases are wired."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import async_default_handlers
from slack_sdk.web.async_client import AsyncWebClient

from bot.auth import AccessVerifier
from bot.cloudflare.client import CloudflareClient
from bot.config.settings import Settings
from bot.credentials import CredentialHealth, SlackObserver, cloudflare_observer
from bot.domain.budget import BudgetPolicy, CloudflareBudget
from bot.domain.clock import Clock, SystemClock
from bot.domain.durations import parse_duration
from bot.domain.limits import FilingLimit
from bot.domain.policy import Policy
from bot.domain.ports import AccessGroups, Directory, Messenger, OnCall
from bot.metrics import Metrics
from bot.pagerduty.client import PagerDutyClient
from bot.policy_reload import PolicyReloader
from bot.preflight import preflight
from bot.reconcile import reconcile_job
from bot.retention import retention_job
from bot.scheduler import Scheduler
from bot.services import conversations
from bot.services.checkpoints import start_periodic as start_checkpoints
from bot.services.context import Deps
from bot.slack.app import build_app
from bot.slack.deliveries import DeliveryLedger
from bot.slack.directory import SlackDirectory
from bot.slack.in_flight import InFlight
from bot.slack.ingress import Ingress
from bot.slack.notifier import SlackMessenger
from bot.slack.paced_client import PacedWebClient
from bot.slack.pacer import SlackPacer
from bot.slack.response_urls import ResponseUrls
from bot.slack.socket_mode import SocketModeRunner
from bot.storage.budget import SqlBudget
from bot.storage.engine import make_engine, sqlite_file
from bot.storage.locks import Locker
from bot.storage.notify import WorkListener
from bot.storage.schema_version import at_head
from bot.storage.serve_registry import ServeRegistration
from bot.storage.store import Store
from bot.web import build_web_app

log = logging.getLogger(__name__)


def _secret(value: Any) -> str:
    """The text of a secret setting, "" when unset."""
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
    new_database: Path | None = None  # the SQLite file this start created, if it did
    health: CredentialHealth = field(default_factory=CredentialHealth)
    reloader: PolicyReloader | None = None
    ingress: Ingress | None = None  # where Slack's requests go, over HTTP or Socket Mode
    responses: ResponseUrls = field(default_factory=ResponseUrls)  # the one session for response_url replies
    pagerduty: PagerDutyClient | None = None  # on-call approval, when PAGERDUTY_API_TOKEN is set

    async def close(self) -> None:
        """Release clients and the database."""
        await self.cloudflare.aclose()
        await self.responses.aclose()
        if self.pagerduty is not None:
            await self.pagerduty.aclose()
        if self.api is not None:
            await self.api.aclose()
        with contextlib.suppress(Exception):
            session = getattr(self.slack, "session", None)
            if session is not None:
                await session.close()
        await self.deps.store.engine.dispose()


@dataclass
class Wiring:
    """The use cases wired without the web side: what the CLI, the test core and `build` all stand on."""

    deps: Deps
    locker: Locker
    scheduler: Scheduler
    owned: list[Any] = field(default_factory=list)  # clients built here (not passed in): `close_clients`

    async def close_clients(self) -> None:
        """Close the clients built here (the database stays open: its opener closes it)."""
        for client in self.owned:
            await client.aclose()


async def open_store(database_url: str, clock: Clock, *, migrate: bool = True) -> Store:
    """The engine and the store on `database_url`; applies migrations unless told not to (Alembic is loaded only
    when the database is not at the newest revision already)."""
    engine = make_engine(database_url)
    if migrate and not await at_head(engine):
        from bot.storage.migrate import upgrade

        await upgrade(engine)
    return Store(engine, clock)


def cloudflare_budget(settings: Settings, store: Store) -> SqlBudget:
    """The API token's call budget (ACCESSBOT_CF_BUDGET per 5 minutes), kept in the database the replicas share."""
    burst = min(settings.accessbot_cf_burst, settings.accessbot_cf_budget // 2)
    return SqlBudget(store, BudgetPolicy(calls=settings.accessbot_cf_budget, burst=burst,
                                         reserve=max(1, burst // 3)))


def cloudflare_client(settings: Settings, clock: Clock, health: CredentialHealth | None = None,
                      budget: CloudflareBudget | None = None) -> CloudflareClient:
    """The Cloudflare API client of these settings (reporting refused credentials to `health` when given), every
    call spending from `budget` when given."""
    hooks = {"response": [cloudflare_observer(health)]} if health is not None else None
    return CloudflareClient(settings.cloudflare_api_url, _secret(settings.cloudflare_api_token),
                            timeout=settings.accessbot_cf_timeout, clock=clock, event_hooks=hooks, budget=budget)


def pagerduty_client(settings: Settings) -> PagerDutyClient | None:
    """The PagerDuty client of these settings (on-call approval), or None when PAGERDUTY_API_TOKEN is unset."""
    token = _secret(settings.pagerduty_api_token)
    if not token:
        return None
    return PagerDutyClient(settings.pagerduty_api_url, token, timeout=settings.pagerduty_timeout)


SLACK_TIMEOUT = 10  # seconds for one Slack Web API call


def slack_client(settings: Settings, health: CredentialHealth, clock: Clock | None = None, *,
                 session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """The Slack Web API client of these settings (no request is made until one is needed), paced at Slack's
    documented rates; a 429's Retry-After is timed on `clock` (the bot's), as the scheduler's retries are.
    Its calls share `session` (its connections kept alive; the caller closes it); without one, slack_sdk opens
    and closes a session, and a connection, for every call."""
    retry_clock = (lambda: clock.now().timestamp()) if clock is not None else None
    return PacedWebClient(token=_secret(settings.slack_bot_token), base_url=settings.slack_api_url,
                          timeout=SLACK_TIMEOUT, session=session,
                          retry_handlers=[SlackObserver(health), *async_default_handlers()],
                          pacer=SlackPacer(settings.accessbot_slack_rate_share, retry_clock=retry_clock))


def slack_session() -> aiohttp.ClientSession:
    """The one HTTP session `serve`'s Slack client makes every call on (closed by `Bot.close`)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SLACK_TIMEOUT))


async def wire(settings: Settings, policy: Policy, *, clock: Clock | None = None, store: Store | None = None,
               groups: AccessGroups | None = None, directory: Directory | None = None,
               messenger: Callable[[Deps], Messenger] | None = None, migrate: bool = True,
               max_sleep: float = 5.0, seed: int | None = None, health: CredentialHealth | None = None,
               budget: CloudflareBudget | None = None, oncall: OnCall | None = None) -> Wiring:
    """Deps, locker and scheduler (with its periodic jobs) from settings and policy. Each port given is used as
    it is (fakes in tests); each one not given is built from the settings. `messenger(deps)` gives the
    Messenger the scheduler's dispatcher carries Slack effects out on (none: Slack effects have no handler).
    The Cloudflare budget is `budget`, else the settings' when the Cloudflare client is built here (a given
    `groups` port with no budget is not rationed)."""
    clock = clock or (store.clock if store is not None else SystemClock())
    store = store or await open_store(settings.database_url, clock, migrate=migrate)
    owned: list[Any] = []
    if groups is None:
        budget = budget or cloudflare_budget(settings, store)
        groups = cloudflare_client(settings, clock, health, budget)
        owned.append(groups)
    if directory is None:
        directory = SlackDirectory(slack_client(settings, health or CredentialHealth(), clock))
    if oncall is None and (pagerduty := pagerduty_client(settings)) is not None:
        oncall = pagerduty
        owned.append(pagerduty)
    deps = Deps(store=store, clock=clock, policy=policy, directory=directory, groups=groups, budget=budget,
                revoke_alert_after=_duration(settings.accessbot_revoke_alert_after, timedelta(minutes=3)),
                filing_limit=FilingLimit(settings.accessbot_filing_limit,
                                         _duration(settings.accessbot_filing_window, timedelta(minutes=10))),
                oncall=oncall)
    locker = Locker(store.engine)
    jobs = []
    interval = settings.accessbot_reconcile_interval
    if interval and interval.total_seconds() > 0:
        jobs.append(reconcile_job(deps, locker, interval))
    retention = settings.accessbot_retention
    if retention.total_seconds() > 0:
        jobs.append(retention_job(deps, retention, one_writer=not store.pg))
    scheduler = Scheduler(deps, locker, messenger(deps) if messenger else None, max_sleep=max_sleep, seed=seed,
                          jobs=jobs)
    return Wiring(deps, locker, scheduler, owned)


async def build(settings: Settings, policy: Policy, *, clock: Clock | None = None, migrate: bool = True,
                max_sleep: float = 5.0, early_ack: bool = True) -> Bot:
    """Build the whole bot from validated settings and policy; applies migrations unless told not to."""
    clock = clock or SystemClock()
    new_file = sqlite_file(settings.database_url)
    new_file = new_file if new_file is not None and not new_file.exists() else None
    store = await open_store(settings.database_url, clock, migrate=migrate)
    health = CredentialHealth()
    budget = cloudflare_budget(settings, store)
    cloudflare = cloudflare_client(settings, clock, health, budget)
    slack = slack_client(settings, health, clock, session=slack_session())
    directory = SlackDirectory(slack)
    pagerduty = pagerduty_client(settings)
    wiring = await wire(settings, policy, clock=clock, store=store, groups=cloudflare, directory=directory,
                        budget=budget,
                        max_sleep=max_sleep, messenger=lambda deps: SlackMessenger(deps, slack, directory),
                        oncall=pagerduty)
    deps, scheduler = wiring.deps, wiring.scheduler
    health.add_probe("slack", slack.auth_test)
    health.add_probe("cloudflare", functools.partial(_probe_cloudflare, deps, cloudflare))
    metrics = Metrics()
    # In Socket Mode no request comes over HTTP: a random secret makes /slack/events refuse every caller.
    signing_secret = _secret(settings.slack_signing_secret) or secrets.token_hex(32)
    in_flight = InFlight(settings.accessbot_max_pending_work)
    responses = ResponseUrls()
    bolt = build_app(deps, slack, signing_secret, early_ack=early_ack, in_flight=in_flight, responses=responses)
    ingress = Ingress(bolt, metrics, deliveries=DeliveryLedger(functools.partial(conversations.first_deliveries, deps)),
                      early_ack=early_ack, in_flight=in_flight, responses=responses)
    api = None
    if settings.api_enabled:
        assert settings.cf_access_team_domain and settings.cf_access_aud
        api = AccessVerifier(settings.cf_access_team_domain, settings.cf_access_aud)
    web_app = build_web_app(deps, ingress, scheduler, signing_secret, metrics, api=api,
                            health=health, slack_over_http=not settings.socket_mode)
    reloader = PolicyReloader(deps, settings.accessbot_policy, settings.cloudflare_account_id, cloudflare)
    return Bot(settings, deps, scheduler, web_app, cloudflare, slack, metrics, bolt, api, new_database=new_file,
               health=health, reloader=reloader, ingress=ingress, responses=responses, pagerduty=pagerduty)


def _log_reload_failure(task: asyncio.Task) -> None:
    """A reload that crashed (the policy in force stays) is an error in the log, not a silent task."""
    if not task.cancelled() and task.exception() is not None:
        log.error("policy reload failed; the policy in force stays: %s", task.exception(), exc_info=task.exception())


async def _probe_cloudflare(deps: Deps, cloudflare: CloudflareClient) -> None:
    """GET the group (or Zero Trust list) of the policy's first role (the policy of now: it may have been reloaded)."""
    role = next(iter(deps.policy.roles.values()), None)
    if role is not None and role.list_id:
        await cloudflare.get_list(role.account_id, role.list_id)
    elif role is not None:
        await cloudflare.get_group(role.account_id, role.group_id)


def _duration(value: Any, default: timedelta) -> timedelta:
    """A duration setting as a timedelta (`default` when unset)."""
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
        self._checkpoint_task: asyncio.Task | None = None
        self._listener: WorkListener | None = None
        self.socket: SocketModeRunner | None = None
        self._stop_checkpoints = asyncio.Event()
        self._registration: ServeRegistration | None = None
        self._reloads: set[asyncio.Task] = set()

    def reload_policy(self, via: str) -> None:
        """Re-read the policy file in the background (SIGHUP, or `accessbot policy reload` over NOTIFY)."""
        if self.bot.reloader is None:
            return
        task = asyncio.create_task(self.bot.reloader.reload(via), name=f"policy reload ({via})")
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)
        task.add_done_callback(_log_reload_failure)

    async def start(self, host: str, port: int) -> int:
        """Start listening and scheduling; returns the bound port."""
        self._checkpoint_task = start_checkpoints(self.bot.settings, self.bot.deps.store, self._stop_checkpoints)
        self.runner = web.AppRunner(self.bot.web_app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1] if sockets else port
        settings = self.bot.settings
        if settings.socket_mode and self.bot.ingress is not None and settings.slack_app_token is not None:
            self.socket = SocketModeRunner(self.bot.ingress, settings.slack_app_token.get_secret_value(),
                                           settings.slack_api_url)
            try:
                await self.socket.start()
            except BaseException:
                self.socket = None
                await self.runner.cleanup()
                raise
        if self.bot.deps.store.pg:
            self._listener = WorkListener(self.bot.settings.database_url, self.bot.scheduler.wake,
                                          on_policy=lambda: self.reload_policy("accessbot policy reload"))
            await self._listener.start()
        database = sqlite_file(self.bot.settings.database_url)
        if database is not None:
            self._registration = ServeRegistration(database)
            try:
                self._registration.open()
            except OSError as exc:
                log.warning("cannot register for `accessbot policy reload` next to %s (%s); SIGHUP still works",
                            database, exc)
                self._registration = None
        self._scheduler_task = asyncio.create_task(self.bot.scheduler.run(), name="scheduler")
        return self.port

    async def stop(self) -> None:
        """Stop taking requests, let in-flight work finish, then close everything."""
        if self.bot.ingress is not None:
            self.bot.ingress.close()
            await self.bot.ingress.drain()
        if self.socket:
            await self.socket.stop()
        self._stop_checkpoints.set()
        if self._checkpoint_task:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._checkpoint_task, timeout=30)
        await self.bot.scheduler.stop()
        if self._scheduler_task:
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._scheduler_task, timeout=30)
        if self._listener:
            await self._listener.stop()
        if self._registration:
            self._registration.close()
        if self._reloads:
            await asyncio.wait(list(self._reloads), timeout=30)
        if self.runner:
            await self.runner.cleanup()
        await self.bot.close()


async def serve_forever(bot: Bot, host: str, port: int) -> None:
    """Check the credentials, then run until SIGTERM or SIGINT and shut down cleanly; SIGHUP reloads the policy."""
    await preflight(bot.slack, bot.cloudflare, bot.deps.policy)
    server = Server(bot)
    bound = await server.start(host, port)
    bot.health.announce = True
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(NotImplementedError, AttributeError):  # no SIGHUP on Windows
        loop.add_signal_handler(signal.SIGHUP, server.reload_policy, "SIGHUP")
    mode = "Slack over Socket Mode" if server.socket else "Slack over HTTP at /slack/events"
    if bot.new_database is not None:
        log.info("created a new SQLite database at %s", bot.new_database)
    log.info("accessbot listening on %s:%s (%s)", host, bound, mode)
    await stop.wait()
    log.info("shutting down: finishing in-flight work")
    await server.stop()
    log.info("stopped")
