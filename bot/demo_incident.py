"""`accessbot demo`'s incident-time part: a reminder and an escalation, a break-glass with its review, and a
scheduled start, each printed as the person sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.cli_text import plain
from bot.demo_steps import Narrator, wait_for
from bot.simulators.stack import ACCOUNT, ANALYTICS_GROUP, PAYMENTS_GROUP, STAGING_GROUP, Stack

BG_ACK = "access_breakglass_ack"


def _in_group(stack: Stack, group_id: str, email: str) -> bool:
    group = stack.cloudflare.group(ACCOUNT, group_id)
    return any(isinstance(r.get("email"), dict) and r["email"]["email"] == email for r in group["include"])


def _dms(stack: Stack, user: str, words: str) -> list[dict[str, Any]]:
    return [m for m in stack.slack.dms_to(user) if words in m["text"]]


async def reminder_and_escalation(stack: Stack, n: Narrator) -> None:
    """A request nobody decides: its approver is reminded after 2 s, and after 4 s it escalates to dana."""
    n.say("alice: /access request analytics 20s quarterly numbers — bob does not answer")
    await stack.driver.slash("U0ALICE", "request analytics 20s quarterly numbers")
    dm = await wait_for(lambda: _dms(stack, "U0APPR01", "Reminder 1"), 10, "bob's reminder")
    n.say(f"bob's DM: {plain(dm[0]['text'])}")
    n.check(True, "bob was reminded (remind_after: 2s), in the approval message's thread and by DM")
    asked = await wait_for(lambda: [m for m in stack.slack.dms_to("U0ADMIN1")
                                    if any(b.get("type") == "actions" for b in m.get("blocks") or [])
                                    and "analytics" in m["text"]], 10, "the escalation to dana")
    n.say(f"dana's DM: {plain(asked[0]['text'])}")
    await stack.driver.click("U0ADMIN1", asked[0], "access_approve")
    await wait_for(lambda: _in_group(stack, ANALYTICS_GROUP, "alice@example.com"), 5, "alice in analytics")
    n.check(True, "the request escalated to dana (escalate_after: 4s), who approved it")


async def break_glass(stack: Stack, n: Narrator) -> None:
    """carol breaks glass on payments: granted at once, capped, announced, and acknowledged by an admin."""
    n.say("carol: /access breakglass payments 1h payments are down INC-9")
    await stack.driver.slash("U0APPR02", "breakglass payments 1h payments are down INC-9")
    await wait_for(lambda: _in_group(stack, PAYMENTS_GROUP, "carol@example.com"), 5, "carol in payments")
    review = await wait_for(lambda: [m for m in stack.slack.dms_to("U0ADMIN1") if "reak-glass" in m["text"]], 5,
                            "the review message")
    n.say(f"dana's review message: {plain(review[0]['text'])}")
    n.check(True, "carol was granted payments at once, cut to break_glass_max_duration (15s), and the admins "
            "were told")
    await stack.driver.click("U0ADMIN1", review[0], BG_ACK)
    done = await wait_for(lambda: [m for m in stack.slack.dms_to("U0ADMIN1") if "reak-glass" in m["text"]
                                   and "Reviewed by" in str(stack.slack.message(m["channel"], m["ts"]))], 5,
                          "the acknowledgement")
    n.check(bool(done), "dana acknowledged the break-glass grant; the review reminders stop")


async def scheduled_start(stack: Stack, n: Narrator) -> None:
    """mallory asks for staging starting in a few seconds: approved ahead, applied at the start."""
    start = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    at = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    n.say(f"mallory: /access request staging 10s at {at} look at the dashboards")
    await stack.driver.slash("U0MALLORY", f"request staging 10s at {at} look at the dashboards")
    told = await wait_for(lambda: [e for e in stack.slack.ephemerals("U0MALLORY") if "start" in str(e)], 5,
                          "mallory's answer")
    n.say(f"mallory sees: {plain(str(told[-1].get('text') or ''))[:200]}")
    n.check(not _in_group(stack, STAGING_GROUP, "mallory@example.com"), "nothing at Cloudflare before the start")
    await wait_for(lambda: _in_group(stack, STAGING_GROUP, "mallory@example.com"), 15, "mallory in staging")
    n.check(datetime.now(UTC) >= start, "mallory's email was added to staging at the start she asked for")
