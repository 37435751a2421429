"""bot.logging_setup: JSON or text lines with the bound context, quiet libraries, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.logging_setup import (
    _BEARER,
    _JWT,
    _TOKEN,
    ERROR_ONLY_LOGGERS,
    QUIET_LOGGERS,
    Redactor,
    bind,
    bind_grants,
    context,
    get_logger,
    log_audited,
    rebind,
    scope,
    setup_logging,
)

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJlbWFpbCI6ImFAZXhhbXBsZS5jb20ifQ.c2lnbmF0dXJlLXBhcnQ"


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    """Put the root logger, the library loggers and the context back after each test."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    levels = {n: logging.getLogger(n).level for n in (*QUIET_LOGGERS, *ERROR_ONLY_LOGGERS, "bot.test")}
    base = context()
    yield
    root.handlers[:], root.level = saved
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    rebind(base)


def _lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_line_is_json_with_time_level_logger_message_fields_and_the_bound_context() -> None:
    buffer = io.StringIO()
    setup_logging("INFO", "json", stream=buffer)
    with scope(request_id="r-1", grant_id="g-1"):
        get_logger("bot.test").info("cloudflare call", method="PUT", status=200)
        logging.getLogger("bot.test").warning("plain %s line", "stdlib")
    get_logger("bot.test").info("after")
    first, second, third = _lines(buffer)
    assert list(first)[:4] == ["at", "level", "logger", "msg"] and first["at"].endswith("Z")
    assert first | {"at": None} == {"at": None, "level": "info", "logger": "bot.test", "msg": "cloudflare call",
                                     "method": "PUT", "status": 200, "request_id": "r-1", "grant_id": "g-1"}
    assert second["msg"] == "plain stdlib line" and second["level"] == "warning" and second["grant_id"] == "g-1"
    assert "request_id" not in third and "grant_id" not in third


def test_the_text_format_is_one_readable_line() -> None:
    buffer = io.StringIO()
    setup_logging("INFO", "text", stream=buffer)
    logging.getLogger("bot.test").info("listening on %s:%d", "127.0.0.1", 3000)
    [line] = buffer.getvalue().splitlines()
    assert "listening on 127.0.0.1:3000" in line and "info" in line and not line.startswith("{")


def test_libraries_stay_at_warning_at_debug_unless_named() -> None:
    setup_logging("DEBUG", "json", stream=io.StringIO(), debug_loggers=" httpcore , aiosqlite")
    assert logging.getLogger("httpcore").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("aiosqlite").getEffectiveLevel() == logging.DEBUG
    for name in ("httpx", "sqlalchemy.engine.Engine", "slack_sdk.web.async_base_client", "aiohttp.access",
                 "asyncpg", "urllib3"):
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
    assert logging.getLogger("slack_bolt").getEffectiveLevel() == logging.ERROR
    assert logging.getLogger("bot.anything").getEffectiveLevel() == logging.DEBUG


def test_a_quiet_library_says_nothing_below_warning() -> None:
    buffer = io.StringIO()
    setup_logging("DEBUG", "json", stream=buffer)
    logging.getLogger("httpcore.http11").debug("receive_response_headers.complete return_value=%s", "headers")
    logging.getLogger("aiosqlite").debug("executing INSERT (alice@example.com, 'incident')")
    logging.getLogger("httpcore.http11").warning("a real problem")
    assert [r["msg"] for r in _lines(buffer)] == ["a real problem"]


@pytest.mark.parametrize(("text", "masked"), [
    ("token xoxb-1234-5678-abcdef here", "token xoxb-[redacted] here"),
    ("xapp-1-A0-123-abc and xoxp-9-9", "xapp-[redacted] and xoxp-[redacted]"),
    ("(b'Authorization', b'Bearer abc.def-123')", "(b'Authorization', b'Bearer [redacted]')"),
    (f"Cf-Access-Jwt-Assertion: {JWT}", "Cf-Access-Jwt-Assertion: [jwt]"),
    ("the signing secret s3cr3t-signing-value!", "the signing secret [secret]!"),
    ("nothing to hide, bearer of news", "nothing to hide, bearer of news"),
])
def test_the_redactor_masks_tokens_bearer_credentials_jwts_and_configured_secrets(text: str, masked: str) -> None:
    assert Redactor(["s3cr3t-signing-value", "abc"]).mask(text) == masked  # "abc" is too short to be masked


_PIECES = ["xoxb-1-2", "xapp-9", "Bearer abcdefgh1", "BEARER\tzz.zz.zz.zz", "eyJa.b.c", "eyJ", "xox",
           "s3cr3t-signing-value", " ", "-", ".", "a", "\n", "é"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join))
def test_the_redactor_skips_only_texts_that_nothing_would_be_masked_in(text: str) -> None:
    redactor = Redactor(["s3cr3t-signing-value"])
    slow = text.replace("s3cr3t-signing-value", "[secret]")
    slow = _JWT.sub("[jwt]", _BEARER.sub(lambda m: m.group(1) + " [redacted]",
                                         _TOKEN.sub(lambda m: m.group(1) + "-[redacted]", slow)))
    assert redactor.mask(text) == slow


def test_the_redactor_reaches_every_field_and_nested_values() -> None:
    event = {"msg": "x", "headers": {"authorization": "Bearer t0ken-0123"}, "list": ["xoxb-1-2", 3], "raw": b"xapp-1-2",
             "n": 5}
    assert Redactor()(None, "info", event) == {"msg": "x", "headers": {"authorization": "Bearer [redacted]"},
                                               "list": ["xoxb-[redacted]", 3], "raw": "xapp-[redacted]", "n": 5}


def test_a_secret_logged_by_anyone_is_masked_in_the_line() -> None:
    buffer = io.StringIO()
    setup_logging("DEBUG", "json", stream=buffer, secrets=["cf-api-token-value-1"], debug_loggers="httpcore")
    logging.getLogger("httpcore.http11").debug("headers [(b'x-echo', b'cf-api-token-value-1')]")
    get_logger("bot.test").info("oops", token="cf-api-token-value-1", jwt=JWT)
    text = buffer.getvalue()
    assert "cf-api-token-value-1" not in text and JWT not in text and text.count("[secret]") == 2


def test_scope_and_rebind_leave_nothing_of_a_unit_of_work_behind() -> None:
    bind(effect="outer")
    with scope(grant_id="g-1"):
        bind(request_id="r-1")
        assert context() == {"effect": "outer", "grant_id": "g-1", "request_id": "r-1"}
    assert context() == {"effect": "outer"}
    rebind({"effect": "loop"}, grant_id="g-2", request_id=None)
    assert context() == {"effect": "loop", "grant_id": "g-2"}


def test_several_grants_are_bound_as_lists_one_as_ids() -> None:
    with scope():
        bind_grants([("r-1", "g-1")])
        assert context() == {"request_id": "r-1", "grant_id": "g-1"}
    with scope():
        bind_grants([("r-2", "g-2"), ("r-1", "g-1")])
        assert context() == {"request_ids": ["r-1", "r-2"], "grant_ids": ["g-1", "g-2"]}


def test_audit_lines_of_a_bulk_write_name_their_own_grant_without_the_bulk_lists() -> None:
    buffer = io.StringIO()
    setup_logging("INFO", "json", stream=buffer)
    with scope():
        bind_grants([("r-1", "g-1"), ("r-2", "g-2")])
        log_audited([{"action": "grant.revoked", "request_id": f"r-{i}", "grant_id": f"g-{i}", "actor": "system",
                      "role": "db", "seq": i} for i in (1, 2)])
        assert context()["grant_ids"] == ["g-1", "g-2"]  # bound again for the lines that follow
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [(line["grant_id"], line["seq"]) for line in lines] == [("g-1", 1), ("g-2", 2)]
    assert not any("grant_ids" in line or "request_ids" in line for line in lines)
