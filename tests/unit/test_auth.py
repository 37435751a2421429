"""Cloudflare Access identities and team domains, as pure functions."""

from __future__ import annotations

from bot.auth import Identity, team_url


def test_a_team_domain_is_the_issuer_with_https_unless_a_scheme_is_given() -> None:
    assert team_url("myteam.cloudflareaccess.com") == "https://myteam.cloudflareaccess.com"
    assert team_url(" https://myteam.cloudflareaccess.com/ ") == "https://myteam.cloudflareaccess.com"
    assert team_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


def test_a_person_is_named_by_email_and_a_service_token_by_its_common_name() -> None:
    person, service = Identity("alice@example.com", None), Identity(None, "backstage.access")
    assert not person.is_service and person.name == "alice@example.com"
    assert service.is_service and service.name == "service:backstage.access"
