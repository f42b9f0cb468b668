"""What a cancelled call (the loser of a speculative race or a latency hedge) is charged.

A provider bills the prompt of every request it started and the output it generated until the
connection closed. The prompt is counted. The output is counted from the stream's deltas when the
call was a stream that had sent some, and otherwise estimated: the time the call ran times the
deployment's recent output speed (completion tokens per second of whole successful calls, from
this process's own traffic), capped by `max_tokens` and the model's output limit. Without any
speed history the charge is the prompt alone, and the attempt says so.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from satisfice.bounded import MAX_KEYS, touch
from satisfice.catalog import ModelInfo
from satisfice.ledger.record import price
from satisfice.usage import Usage

SPEED_SAMPLES = 64  # recent calls per deployment that set its output speed


class OutputSpeeds:
    """Recent output speed per deployment ("provider/model"), in this process."""

    def __init__(self, size: int = SPEED_SAMPLES, max_keys: int = MAX_KEYS) -> None:
        self.size = size
        self.max_keys = max_keys  # deployments remembered (a passthrough serves any model name)
        self._seen: dict[str, deque[tuple[int, float]]] = {}

    def observe(self, key: str, completion_tokens: int, seconds: float) -> None:
        if completion_tokens > 0 and seconds > 0:
            seen = touch(self._seen, key, lambda: deque(maxlen=self.size), self.max_keys)
            seen.append((completion_tokens, seconds))

    def tokens_in(self, key: str, seconds: float) -> int | None:
        """Output tokens the deployment generates in `seconds` at its recent speed (the ratio of
        summed tokens to summed seconds, so a few long calls do not dominate); None without history.
        A call's seconds include its wait for the first token, as the cancelled call's do."""
        seen = self._seen.get(key)
        if not seen:
            return None
        tokens = sum(t for t, _ in seen)
        spent = sum(s for _, s in seen)
        return int(tokens / spent * max(seconds, 0.0))


@dataclass(frozen=True, slots=True)
class CancelCharge:
    cost_usd: float
    output_tokens: int
    how: str  # for the attempt's message: how the output was counted
    tokens: int = 0  # prompt + output: what the call counts against token rate limits


def charge_cancelled(
    info: ModelInfo | None,
    prompt_tokens: int,
    *,
    received_tokens: int | None,
    estimated_tokens: int | None,
    cap: int | None,
) -> CancelCharge:
    """The charge of a cancelled call: its prompt, plus the output received (a stream) or else
    the output estimated from its speed; both capped by `cap`."""
    if received_tokens:
        out, how = received_tokens, f"prompt + {received_tokens} output tokens received"
    elif estimated_tokens is not None:
        out = estimated_tokens if cap is None else min(estimated_tokens, cap)
        how = f"prompt + ~{out} output tokens (estimated from its recent output speed)"
    else:
        out, how = 0, "prompt only (no output speed known yet)"
    cost = price(info, Usage(prompt_tokens=prompt_tokens, completion_tokens=out, estimated=True))
    return CancelCharge(cost, out, how, prompt_tokens + out)
