"""`accessbot demo`: the whole flow on one machine against the built-in simulators, checked step by step."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bot import demo_incident as incident
from bot.cli_text import plain
from bot.demo_steps import DemoFailed, Narrator, wait_for
from bot.domain.audit import first_broken
from bot.simulators.stack import (
    ACCOUNT,
    ONCALL_GROUP,
    ONCALL_SCHEDULE,
    PROD_GROUP,
    Stack,
    sqlite_url,
    start_stack,
)


def _approval_message(stack: Stack, role: str, not_ts: str = "") -> dict[str, Any] | None:
    """The newest approval message in #C0APPROVE for a request for `role` that still has its buttons."""
    found = [m for m in stack.slack.messages("C0APPROVE") if not m["thread_ts"] and m["ts"] != not_ts
             and f" {role} " in m["text"] and any(b.get("type") == "actions" for b in m.get("blocks") or [])]
    return found[-1] if found else None


def _emails(stack: Stack) -> list[str]:
    return _group_emails(stack, PROD_GROUP)


def _group_emails(stack: Stack, group_id: str) -> list[str]:
    group = stack.cloudflare.group(ACCOUNT, group_id)
    return [r["email"]["email"] for r in group["include"] if isinstance(r.get("email"), dict)]


async def _scenario(stack: Stack, n: Narrator) -> None:
    d, slack = stack.driver, stack.slack
    n.say("Cloudflare group prod-db starts with: " + json.dumps(stack.cloudflare.group(ACCOUNT, PROD_GROUP)["include"]))
    n.say("alice: /access request prod-db 20s incident 4211 <!channel>")
    resp = await d.slash("U0ALICE", "request prod-db 20s incident 4211 <!channel>")
    n.check(resp.status == 200, f"Slack got its ack in {resp.elapsed * 1000:.1f} ms")
    msg = await wait_for(lambda: _approval_message(stack, "prod-db"), 5, "the approval message")
    n.say(f"approval message in #C0APPROVE: {plain(msg['text'])}")
    n.check("<!channel>" not in json.dumps(msg["blocks"]) or
            any(b.get("text", {}).get("type") == "plain_text" and "<!channel>" in b["text"]["text"]
                for b in msg["blocks"]), "the reason is shown as plain text and cannot ping the channel")
    n.say("mallory (not an approver) clicks Approve")
    await d.click("U0MALLORY", msg, "access_approve")
    await wait_for(lambda: any("not an approver" in json.dumps(e) for e in slack.ephemerals("U0MALLORY")), 5,
                   "mallory's refusal")
    n.check(True, "mallory is told she is not an approver; nothing changes")
    n.say("bob (approver) clicks Approve")
    await d.click("U0APPR01", msg, "access_approve")
    await wait_for(lambda: "alice@example.com" in _emails(stack), 5, "alice's email at Cloudflare")
    n.check(True, "alice@example.com was added to the Access group; foreign rules kept: "
            + json.dumps(stack.cloudflare.group(ACCOUNT, PROD_GROUP)["include"]))
    dm = await wait_for(lambda: [m for m in slack.dms_to("U0ALICE") if "is active" in m["text"]
                                 and "prod-db" in m["text"]], 5, "approval DM")
    n.say(f"alice's DM: {plain(dm[0]['text'])}")
    updated = slack.message("C0APPROVE", msg["ts"])
    n.check(not any(b.get("type") == "actions" for b in updated["blocks"]),
            "the approval message was updated in place and its buttons are gone")

    n.say("dana: /access request prod-db 30m schema migration — carol (in @sre-team) will deny it")
    await d.slash("U0ADMIN1", "request prod-db 30m schema migration")
    msg2 = await wait_for(lambda: _approval_message(stack, "prod-db", not_ts=msg["ts"]), 5,
                          "the second approval message")
    await d.click("U0APPR02", msg2, "access_deny")
    await wait_for(lambda: [m for m in slack.dms_to("U0ADMIN1") if "denied" in m["text"]], 5, "denial DM")
    n.check(True, "dana's request was denied by carol and dana was told")

    n.say("alice: /access request staging 99h (longer than the role allows)")
    await d.slash("U0ALICE", "request staging 99h")
    refusal = await wait_for(lambda: [e for e in slack.ephemerals("U0ALICE") if "longer than" in json.dumps(e)], 5,
                             "the refusal")
    n.check(bool(refusal), "refused with the role's limits: " + plain(_text(refusal[-1]))[:120])

    n.say("waiting for the expiry warning (10s before the end)…")
    warn = await wait_for(lambda: [m for m in slack.dms_to("U0ALICE") if "ends" in m["text"]
                                   and "prod-db" in m["text"]], 20, "the warning")
    n.check(any(b.get("type") == "actions" for b in warn[0].get("blocks") or []),
            "alice was warned, with an Extend button")
    n.say("waiting for the expiry…")
    await wait_for(lambda: "alice@example.com" not in _emails(stack), 20, "the removal")
    n.check(True, "alice@example.com was removed from the Access group on time")
    await wait_for(lambda: stack.cloudflare.revoked_users, 5, "revoke_user")
    n.check(stack.cloudflare.revoked_users == [(ACCOUNT, "alice@example.com")],
            "alice's open Access sessions were ended (revoke_sessions: true)")
    await wait_for(lambda: [m for m in slack.dms_to("U0ALICE") if "expired" in m["text"]
                            and "prod-db" in m["text"]], 5, "expiry DM")
    n.check(True, "alice was told her access expired")
    await stack.idle()


async def _oncall(stack: Stack, n: Narrator) -> None:
    """On-call approval: someone on call in the role's PagerDuty schedule is granted at once."""
    d, slack = stack.driver, stack.slack
    assert stack.pagerduty is not None
    stack.pagerduty.set_on_call(ONCALL_SCHEDULE, ["P0ADMIN1"])
    n.say(f"PagerDuty: dana is on call in schedule {ONCALL_SCHEDULE}; "
          "dana: /access request prod-oncall 20s paged for INC-77")
    await d.slash("U0ADMIN1", "request prod-oncall 20s paged for INC-77")
    dm = await wait_for(lambda: [m for m in slack.dms_to("U0ADMIN1") if "on call in PagerDuty" in m["text"]], 5,
                        "the on-call DM")
    n.say(f"dana's DM: {plain(dm[0]['text'])}")
    await wait_for(lambda: "dana@example.com" in _group_emails(stack, ONCALL_GROUP), 5, "dana's email at Cloudflare")
    n.check(True, "dana was granted prod-oncall at once, without an approver: PagerDuty says she is on call")


def _text(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("body", {}).get("text") or message)


async def _audit_trail(stack: Stack, n: Narrator) -> None:
    async with stack.bot.deps.store.tx() as tx:
        rows = await tx.audit.rows()
    n.say(f"audit trail ({len(rows)} events):")
    for r in rows:
        who = r["subject"] or ""
        n.say(f"  #{r['seq']:<3} {r['action']:<18} actor={r['actor']:<10} {r['role'] or '':<8} {who} "
              f"{json.dumps(r['details'].get('reason') or r['details'].get('code') or '', ensure_ascii=False)}")
    n.check(first_broken(rows) is None, "the audit hash chain verifies")
    actions = [r["action"] for r in rows]
    for a in ("request.created", "approval.refused", "request.approved", "grant.applied", "grant.warned",
              "grant.revoked", "session.revoked", "request.denied", "request.refused", "request.reminded",
              "request.escalated", "grant.break_glass", "breakglass.acknowledged", "grant.scheduled", "grant.started"):
        n.check(a in actions, f"audit has {a}")


async def run_demo(quiet: bool = False) -> int:
    """Run the scripted scenario; 0 only when every step happened."""
    n = Narrator(quiet)
    with tempfile.TemporaryDirectory(prefix="accessbot-demo-") as tmp:
        n.say(f"starting accessbot against Slack, Cloudflare and PagerDuty simulators on 127.0.0.1 "
              f"(database in {tmp})")
        stack = await start_stack(database_url=sqlite_url(Path(tmp)))
        n.say(f"accessbot listening on {stack.url}")
        try:
            await _oncall(stack, n)
            await incident.reminder_and_escalation(stack, n)
            await incident.break_glass(stack, n)
            await incident.scheduled_start(stack, n)
            await _scenario(stack, n)
            await _audit_trail(stack, n)
        except (DemoFailed, AssertionError) as exc:
            n.failures.append(str(exc))
            n.say(f"  ✗ {exc}")
        finally:
            await stack.stop()
    if n.failures:
        print(f"demo FAILED: {len(n.failures)} step(s) did not happen: {'; '.join(n.failures)}", file=sys.stderr)
        return 1
    n.say("demo OK: every step happened")
    return 0
