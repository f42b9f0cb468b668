"""A ledger row and the cost arithmetic behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from satisfice.catalog import ModelInfo
from satisfice.usage import Usage

COLUMNS = (
    "id",
    "ts",
    "tenant",
    "endpoint",
    "route",
    "strategy",
    "model",
    "provider",
    "attempts",
    "n_attempts",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "usage_estimated",
    "cost_usd",
    "baseline_model",
    "baseline_cost_usd",
    "savings_usd",
    "latency_ms",
    "ttft_ms",
    "stream",
    "status",
    "outcome",
    "reason",
    "error",
    "knob",
    "predicted_quality",
    "cache",
    "cache_saved_usd",
    "trim_tokens_before",
    "trim_tokens_after",
    "trim_saved_usd",
)


@dataclass(slots=True)
class LedgerRow:
    id: str
    ts: float
    endpoint: str
    tenant: str = ""
    route: str = ""
    strategy: str = ""
    model: str = ""
    provider: str = ""
    attempts: str = "[]"  # JSON list of attempts
    n_attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    usage_estimated: bool = False
    cost_usd: float = 0.0
    baseline_model: str = ""
    baseline_cost_usd: float = 0.0
    savings_usd: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    stream: bool = False
    status: int = 200
    outcome: str = "ok"  # ok | error | client_closed | stream_error
    reason: str = ""
    error: str = ""
    knob: str = ""  # strategy auto: the knob that decided
    predicted_quality: float | None = None  # strategy auto: of the model that answered (else the planned)
    cache: str = "off"  # off | miss | hit-exact | hit-semantic
    cache_saved_usd: float = 0.0  # a hit: what producing the served answer had cost
    trim_tokens_before: int = 0  # prompt trimming (0/0: not trimmed)
    trim_tokens_after: int = 0
    trim_saved_usd: float = 0.0  # the trimmed tokens at the answering model's input price
    extra: dict[str, Any] = field(default_factory=dict)

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, c) for c in COLUMNS)


def price(info: ModelInfo | None, usage: Usage) -> float:
    if info is None:
        return 0.0
    return info.cost_usd(
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens,
        usage.cache_write_tokens,
        usage.cache_write_1h_tokens,
    )


def apply_costs(
    row: LedgerRow, info: ModelInfo | None, baseline: ModelInfo | None, usage: Usage | None
) -> None:
    """Fill tokens, cost, baseline cost (the baseline model priced on the same tokens) and savings."""
    if usage is None:
        return
    row.prompt_tokens = usage.prompt_tokens
    row.completion_tokens = usage.completion_tokens
    row.cached_tokens = usage.cached_tokens
    row.reasoning_tokens = usage.reasoning_tokens
    row.usage_estimated = usage.estimated
    row.cost_usd = price(info, usage)
    if baseline is not None:
        row.baseline_model = baseline.id
        # The baseline would not have had our cache hits: price its prompt at the full input rate.
        row.baseline_cost_usd = baseline.cost_usd(usage.prompt_tokens, usage.completion_tokens)
    else:
        row.baseline_cost_usd = row.cost_usd
    row.savings_usd = row.baseline_cost_usd - row.cost_usd


class LedgerSink(Protocol):
    def submit(self, row: LedgerRow) -> None: ...

    def problem(self) -> str | None:
        """Why rows are being lost right now (for /health), or None."""
        ...

    def close(self) -> None: ...


class NullLedger:
    def submit(self, row: LedgerRow) -> None:
        return None

    def problem(self) -> str | None:
        return None

    def close(self) -> None:
        return None
