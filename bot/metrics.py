"""Prometheus metrics: Slack request counts and ack latency, grants by state, the outbox backlog."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """The bot's metrics in their own registry (one per app, so tests can build many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.slack_requests = Counter("accessbot_slack_requests_total", "Slack HTTP requests by outcome",
                                      ["outcome"], registry=self.registry)
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

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
