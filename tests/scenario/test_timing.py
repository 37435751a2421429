"""On real time, with the production scheduler settings: a grant is revoked within a second of its expiry,
not at the next polling interval (spec §6)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.clock import SystemClock
from bot.domain.model import GrantState
from bot.simulators.stack import STAGING_GROUP
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import ALICE, ALICE_EMAIL, base_policy, emails, grants, slash, wait_until

FAST = base_policy(min_duration="1s", warn_before="0")


async def test_a_grant_is_revoked_within_a_second_of_its_expiry_on_real_time(make_stack: StackFactory) -> None:
    stack = await make_stack(FAST, clock=SystemClock(), max_sleep=5.0)  # serve's default max_sleep
    await slash(stack, ALICE, "request staging 2s")
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE and ALICE_EMAIL in emails(stack, STAGING_GROUP)
    # only watch Cloudflare: no wake-ups from the test
    await wait_until(lambda: ALICE_EMAIL not in emails(stack, STAGING_GROUP), 6, "the removal")
    removed_at = datetime.now(UTC)
    late = (removed_at - grant.expires_at).total_seconds()
    assert -0.05 < late < 1.0, f"removed {late:.3f}s after the expiry"
    await wait_until(lambda: [m for m in stack.slack.dms_to(ALICE) if "expired" in m["text"]], 3, "the DM")
