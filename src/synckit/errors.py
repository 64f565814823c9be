"""Typed errors: each names what went wrong and what to check; none carries a secret."""

from __future__ import annotations


class SyncError(Exception):
    """Base class for every error the toolkit raises on purpose."""


class ConfigError(SyncError):
    """A configuration value is missing or malformed; the message names the key."""

    def __init__(self, key: str, problem: str):
        self.key = key
        super().__init__(f"configuration key '{key}': {problem}")


class ApiError(SyncError):
    """The API answered with a status that retrying cannot fix (400, 403, 404, ...)."""

    def __init__(self, status: int, url: str, message: str):
        self.status = status
        self.url = url
        super().__init__(f"HTTP {status} from {url}: {message}")


class AuthError(ApiError):
    """Credentials were refused, even after re-acquiring a token once."""


class RetriesExhausted(SyncError):
    """A transient failure (429, 5xx, timeout, dropped connection) outlasted the retry budget."""


class PagingError(SyncError):
    """A paginator saw something that would loop forever or leave the API's origin."""


class OriginError(PagingError):
    """A link, redirect or URL points at another origin; credentials are never sent there."""


class ResponseError(SyncError):
    """A response body is not what the API promises (malformed JSON, wrong envelope, missing key)."""


class BudgetExhausted(SyncError):
    """The request budget is spent; the sync stops cleanly at its last checkpoint."""

    def __init__(self, message: str, resume_at: float | None = None):
        self.resume_at = resume_at
        super().__init__(message)
