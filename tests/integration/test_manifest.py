"""manifest.yml is a Slack app manifest Slack would accept, and it asks for what accessbot uses."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "manifest.yml"
SCHEMA = REPO / "tests" / "reference" / "slack" / "manifest.schema.1.0.0.json"
URL = "https://accessbot.example.com/slack/events"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    assert SCHEMA.is_file(), f"Slack's manifest schema is missing: expected it at {SCHEMA}"
    schema = json.loads(SCHEMA.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    assert MANIFEST.is_file(), f"manifest.yml is missing at {MANIFEST}"
    return yaml.safe_load(MANIFEST.read_text())


def _errors(validator: Draft7Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_manifest_validates_against_slacks_manifest_schema(validator, manifest):
    assert _errors(validator, manifest) == []


def test_a_manifest_without_display_information_fails_validation(validator, manifest):
    broken = copy.deepcopy(manifest)
    del broken["display_information"]
    errors = _errors(validator, broken)
    assert any("display_information" in e for e in errors), errors


def test_a_manifest_with_an_unknown_setting_fails_validation(validator, manifest):
    broken = copy.deepcopy(manifest)
    broken["settings"]["interactivity"]["enabled"] = True
    assert _errors(validator, broken)


def test_manifest_declares_the_access_slash_command_pointing_at_slack_events(manifest):
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    assert set(commands) == {"/access"}
    access = commands["/access"]
    assert access["url"] == URL
    assert access["should_escape"] is False
    assert access["description"]
    for word in ("request", "list", "roles", "revoke", "cancel", "help"):
        assert word in access["usage_hint"]


def test_manifest_asks_for_exactly_the_bot_scopes_accessbot_uses(manifest):
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(
        ["commands", "chat:write", "im:write", "users:read", "users:read.email", "usergroups:read"]
    )
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_manifest_subscribes_to_app_home_opened_and_enables_interactivity_and_the_role_search(manifest):
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["request_url"] == URL
    assert settings["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    # the options URL answers the request modal's role search (more than 100 roles) on the same endpoint
    assert settings["interactivity"] == {"is_enabled": True, "request_url": URL, "message_menu_options_url": URL}
    assert settings["socket_mode_enabled"] is False
    assert settings["token_rotation_enabled"] is False
    assert settings["org_deploy_enabled"] is False


def test_manifest_enables_the_home_tab_and_a_bot_user(manifest):
    features = manifest["features"]
    assert features["app_home"] == {
        "home_tab_enabled": True,
        "messages_tab_enabled": True,
        "messages_tab_read_only_enabled": False,
    }
    assert features["bot_user"] == {"display_name": "accessbot", "always_online": True}
    assert manifest["display_information"]["name"] == "accessbot"
