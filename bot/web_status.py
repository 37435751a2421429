"""GET /healthz and GET /metrics: whether this process can do its job, and what it has to do."""

from __future__ import annotations

from aiohttp import web

from bot.credentials import UPSTREAMS, CredentialHealth
from bot.metrics import Metrics
from bot.scheduler import Scheduler
from bot.services import queries
from bot.services.context import Deps


class StatusPages:
    """The two status endpoints over the use cases' dependencies, the scheduler and the credential health."""

    def __init__(self, deps: Deps, scheduler: Scheduler, metrics: Metrics, health: CredentialHealth) -> None:
        self.deps, self.scheduler, self.metrics, self.health = deps, scheduler, metrics, health

    async def healthz(self, request: web.Request) -> web.Response:
        """200 when the database answers, the scheduler runs and no upstream rejects the credentials; else 503
        with the reason."""
        failure = await queries.database_answers(self.deps)
        if failure is not None:
            return web.json_response({"ok": False, "error": f"database: {failure}"}, status=503)
        if not self.scheduler.started:
            return web.json_response({"ok": False, "error": "scheduler not running"}, status=503)
        self.health.recheck()
        rejected = self.health.problems()
        if rejected:
            return web.json_response({"ok": False, "error": "credentials rejected: " + ", ".join(sorted(rejected)),
                                      "credentials": rejected}, status=503)
        return web.json_response({"ok": True})

    async def metrics_view(self, request: web.Request) -> web.Response:
        """The Prometheus text: grants and effects per state, retrying effects per kind, the most overdue
        grant, and whether each upstream accepts the credentials."""
        status = await queries.status(self.deps)
        metrics = self.metrics
        metrics.set_grant_counts(status.grants)
        metrics.set_effect_counts(status.effects)
        metrics.retrying.clear()
        for kind, n in status.retrying.items():
            metrics.retrying.labels(kind).set(n)
        metrics.overdue.set(status.overdue_seconds)
        for upstream in UPSTREAMS:
            metrics.credentials_ok.labels(upstream).set(1 if self.health.ok(upstream) else 0)
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")
