"""How long spent rows are kept: done outbox effects and delivery keys go after the retention; audit events stay."""

from __future__ import annotations

from datetime import timedelta

# Slack signs a request with its timestamp and we refuse one whose timestamp is further than this from our clock
# (either way), so a signed request can be replayed for up to twice this after we first saw it.
SLACK_SIGNATURE_WINDOW = timedelta(minutes=5)

# The shortest retention allowed: a delivery key must outlive every replay the signature check would still pass
# (and Slack's own event retries, the last about 5 minutes after the first try).
RETENTION_FLOOR = 2 * SLACK_SIGNATURE_WINDOW

DEFAULT_RETENTION = timedelta(days=30)


def check_retention(value: timedelta) -> timedelta:
    """The retention, if it is 0 (keep everything) or at least RETENTION_FLOOR; ValueError saying why not."""
    if value < timedelta(0):
        raise ValueError("must be 0 (keep everything) or a duration like 30d")
    if timedelta(0) < value < RETENTION_FLOOR:
        floor = int(RETENTION_FLOOR.total_seconds() // 60)
        raise ValueError(f"must be 0 (keep everything) or at least {floor}m: delivery keys are the replay defence, "
                         f"and Slack's signature check accepts a request for up to {floor}m after it was sent")
    return value
