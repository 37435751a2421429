"""The bodies the bot sends Cloudflare pass Cloudflare's own OpenAPI schema: the check the simulator applies."""

from __future__ import annotations

from bot.domain.membership import email_rule, plan_group_change
from bot.simulators.cloudflare_openapi import GROUP_PATH, REVOKE_PATH, request_body_errors

FOREIGN = [{"email_domain": {"domain": "x.io"}}, {"everyone": {}}, {"email": {"email": "boss@x.io"}}]


def test_a_planned_group_change_is_a_put_body_cloudflare_accepts() -> None:
    group = {"id": "g", "name": "Grafana users", "created_at": "t", "updated_at": "t",
             "include": FOREIGN + [{"email": {"email": "a@x.io"}}], "exclude": [], "require": []}
    change = plan_group_change(group, {"b@x.io"}, {"a@x.io"})
    assert change.changed
    assert request_body_errors("PUT", GROUP_PATH, change.body) == []


def test_an_email_rule_is_one_cloudflare_knows() -> None:
    assert request_body_errors("PUT", GROUP_PATH, {"name": "G", "include": [email_rule("ann@example.com")]}) == []


def test_a_broken_rule_is_refused_with_its_place_in_the_body() -> None:
    errors = request_body_errors("put", GROUP_PATH, {"name": "G", "include": [{"email": "x"}]})
    assert errors and all(e.startswith("include/0/email") for e in errors)


def test_a_revoke_needs_an_email() -> None:
    assert request_body_errors("POST", REVOKE_PATH, {"email": "ann@example.com"}) == []
    assert request_body_errors("POST", REVOKE_PATH, {}) == ["(body): 'email' is a required property"]
