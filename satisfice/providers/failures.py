"""How one upstream attempt can fail, and what the executor should do about it."""

from __future__ import annotations

import email.utils
import time
from enum import StrEnum


class FailureKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # 429
    SERVER_ERROR = "server_error"  # 5xx
    TIMEOUT = "timeout"
    CONNECTION = "connection"  # refused, reset, cut mid-body
    CONTEXT_WINDOW = "context_window"  # prompt does not fit this model
    BAD_RESPONSE = "bad_response"  # 2xx with a body we cannot read, or a 3xx (redirects are not followed)
    REFUSED = "refused"  # 401/403/404 from one provider (bad key, unknown model there): try the next
    CLIENT_ERROR = "client_error"  # 4xx the client must fix: never retried, never failed over
    CIRCUIT_OPEN = "circuit_open"  # skipped without a call
    # Never sent: the attempt's time ran out while the call waited for a connection of the gateway's
    # own pool (server.upstream_connections). The gateway's state, not the deployment's: no retry,
    # no failover (the pool is every candidate's), a 503 to the client.
    LOCAL_SATURATED = "local_saturated"
    # This candidate's API cannot carry the request as written (the translation to its dialect
    # refused it, e.g. a tool call's arguments that are not JSON for Anthropic): another candidate
    # may take it as it is. Nothing was sent, so no retry and nothing against its health; a 400
    # with the translation's words when no candidate could take it.
    UNTRANSLATABLE = "untranslatable"


# Failures after which the next candidate is tried.
FAILOVER = frozenset(
    {
        FailureKind.RATE_LIMITED,
        FailureKind.SERVER_ERROR,
        FailureKind.TIMEOUT,
        FailureKind.CONNECTION,
        FailureKind.CONTEXT_WINDOW,
        FailureKind.BAD_RESPONSE,
        FailureKind.REFUSED,
        FailureKind.CIRCUIT_OPEN,
        FailureKind.UNTRANSLATABLE,
    }
)
# Attempts that never reached the upstream (nothing was sent, nothing billed), as ledger outcomes.
NOT_SENT = frozenset(
    k.value for k in (FailureKind.CIRCUIT_OPEN, FailureKind.LOCAL_SATURATED, FailureKind.UNTRANSLATABLE)
)
# Failures worth retrying on the same deployment (the others move on at once).
RETRYABLE = frozenset(
    {FailureKind.RATE_LIMITED, FailureKind.SERVER_ERROR, FailureKind.TIMEOUT, FailureKind.CONNECTION}
)
# Failures that count against a deployment's health in its circuit breaker.
UNHEALTHY = frozenset(
    {FailureKind.SERVER_ERROR, FailureKind.TIMEOUT, FailureKind.CONNECTION, FailureKind.BAD_RESPONSE}
)


class AttemptFailed(Exception):
    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.param = param  # the provider's own, for a 4xx the client must fix
        self.code = code


def classify_status(status: int, context_window_exceeded: bool) -> FailureKind:
    if context_window_exceeded:
        return FailureKind.CONTEXT_WINDOW
    if status == 429:
        return FailureKind.RATE_LIMITED
    if status >= 500 or status in (408, 409):  # 408/409: OpenAI's SDK retries these too
        return FailureKind.SERVER_ERROR
    if status in (401, 403, 404):
        return FailureKind.REFUSED
    return FailureKind.CLIENT_ERROR


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After (or retry-after-ms) header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
