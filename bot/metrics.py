"""Prometheus metrics: Slack request counts and ack latency, grants by state, the outbox backlog, credentials."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.domain.model import GrantState

EFFECT_STATES = ("pending", "done", "failed", "dead")


class Metrics:
    """The bot's metrics in their own registry (one per app, so tests can build many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.slack_requests = Counter("accessbot_slack_requests_total", "Slack HTTP requests by outcome",
                                      ["outcome"], registry=self.registry)
        self.slack_busy = Counter("accessbot_slack_busy_total",
                                  "Slack requests turned away while ACCESSBOT_MAX_PENDING_WORK acked work was in "
                                  "flight, by kind (command, action, event)", ["kind"], registry=self.registry)
        self.ack_seconds = Histogram("accessbot_slack_ack_seconds", "Time to answer Slack's HTTP request",
                                     buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 3),
                                     registry=self.registry)
        self.grants = Gauge("accessbot_grants", "Grants by state", ["state"], registry=self.registry)
        self.effects = Gauge("accessbot_effects", "Outbox effects by state", ["state"], registry=self.registry)
        self.retrying = Gauge("accessbot_effects_retrying", "Pending effects that failed at least once, by kind",
                              ["kind"], registry=self.registry)
        self.overdue = Gauge("accessbot_revocation_overdue_seconds",
                             "Seconds since the oldest expiry whose removal Cloudflare has not confirmed (0: none)",
                             registry=self.registry)
        self.credentials_ok = Gauge("accessbot_credentials_ok",
                                    "1 while the upstream accepts the bot's credentials, 0 while it rejects them",
                                    ["upstream"], registry=self.registry)
        self._seen: dict[str, set[str]] = {}

    def set_counts(self, gauge: Gauge, counts: Mapping[str, float], known: Iterable[str] = ()) -> None:
        """Set one labelled gauge from a fresh count: every known label, every label seen before and every
        label counted now (a state that dropped to zero reads 0, not its last value)."""
        seen = self._seen.setdefault(gauge._name, set())  # noqa: SLF001 - the name keys our own bookkeeping
        seen.update(known)
        seen.update(counts)
        for label in seen:
            gauge.labels(label).set(counts.get(label, 0))

    def set_grant_counts(self, counts: Mapping[str, float]) -> None:
        """`accessbot_grants{state}` from a count by state (every grant state is always present)."""
        self.set_counts(self.grants, counts, (s.value for s in GrantState))

    def set_effect_counts(self, counts: Mapping[str, float]) -> None:
        """`accessbot_effects{state}` from a count by state."""
        self.set_counts(self.effects, counts, EFFECT_STATES)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
