"""Outbox lanes: which queue an owed side effect waits in, most urgent first."""

from __future__ import annotations

# Outbox lanes, most urgent first. Due work is looked up lane by lane, each with its own limit, so no
# backlog in one lane (thousands of Slack notices while Slack is down) can hold back another's work
# (a revocation), and within a lane a key counts once however many effects it holds.
LANE_CF_REMOVE = 0  # Cloudflare syncs that take access away, and ending Access sessions
LANE_CF_ADD = 1  # Cloudflare syncs that give access
LANE_CF_OTHER = 2  # any other Cloudflare work
LANE_OTHER = 3  # Slack notices and everything else
LANES = (LANE_CF_REMOVE, LANE_CF_ADD, LANE_CF_OTHER, LANE_OTHER)
KEYS_PER_LANE = 500


def lane_of(kind: str) -> int:
    """The lane an effect of this kind goes in when its owner does not say."""
    if kind == "cf.revoke_sessions":
        return LANE_CF_REMOVE
    if kind == "cf.sync":
        return LANE_CF_ADD
    return LANE_CF_OTHER if kind.startswith("cf.") else LANE_OTHER
