"""A modal submission is filed after its ack in work the web app tracks: settling and graceful shutdown
wait for it (bolt's lazy listeners run in untracked tasks)."""

from __future__ import annotations

from bot.simulators.stack import Stack
from tests.scenario.helpers import ALICE, grants, settle


async def test_a_modal_submission_is_filed_in_tracked_work_that_settling_and_shutdown_wait_for(stack: Stack) -> None:
    resp = await stack.driver.slash(ALICE, "")
    await settle(stack)
    [modal] = stack.slack.modals(ALICE)
    values = {"role": {"value": {"type": "static_select", "selected_option": {"value": "staging"}}},
              "duration": {"value": {"type": "plain_text_input", "value": "1h"}},
              "reason": {"value": {"type": "plain_text_input", "value": "why"}}}
    stack.slack.delay_next("chat.postMessage", 0.5)  # the answer to the submission is slow to post
    resp = await stack.driver.view_submission(ALICE, modal, values)
    assert resp.status == 200 and not resp.body
    assert stack.bot.ingress.in_flight, "the filing runs after the ack, as tracked work"
    await settle(stack)
    assert len(await grants(stack, requester=ALICE)) == 1
    assert any("staging" in m["text"] for m in stack.slack.dms_to(ALICE))
