"""What a failed provider call looks like to the rest of the gateway (mapped to HTTP in `gateway.errors`)."""

from __future__ import annotations


class ProviderError(Exception):
    """A provider call failed. `role` is `embedding` or `llm`; the message never holds request text or keys."""

    status_code = 502  # what the gateway answers its own client

    def __init__(self, role: str, message: str, *, retry_after: float | None = None, detail: str | None = None) -> None:
        self.role = role
        self.retry_after = retry_after
        # The provider's own error text: returned to the client that caused it, never logged.
        self.detail = detail
        super().__init__(f"{role} provider: {message}")


class ProviderTimeout(ProviderError):
    status_code = 504


class ProviderUnavailable(ProviderError):
    """The circuit is open, or the provider keeps rate limiting us: come back after `retry_after`."""

    status_code = 503


class ProviderResponseError(ProviderError):
    """The provider answered, but not with what its API promises (wrong vector size, malformed JSON...)."""
