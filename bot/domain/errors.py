"""Errors the domain understands from the outside world: retry later, or give up and tell people."""

from __future__ import annotations

from typing import Any


class ExternalError(Exception):
    """A call to Cloudflare or Slack that did not succeed.

    `retryable` is True for 429, 5xx, timeouts and connection errors; `retry_after` carries the
    server's `Retry-After` seconds when it sent one; `errors` holds the service's own error codes and
    messages (Cloudflare's `errors` array) for the audit log.
    """

    retryable: bool = True

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.errors = errors or []

    def details(self) -> dict[str, Any]:
        """The error as audit details: status, Cloudflare's codes and messages, retryable."""
        return {"status": self.status, "errors": self.errors, "message": str(self), "retryable": self.retryable}


class TransientError(ExternalError):
    """Worth trying again: 429, 5xx, timeouts, connection errors."""

    retryable = True


class PermanentError(ExternalError):
    """Trying again will not help: a 4xx other than 429 (bad token, group not found, invalid body)."""

    retryable = False


class ConfigError(Exception):
    """A missing or malformed setting (or a file it names): one clear line that names the variable."""
