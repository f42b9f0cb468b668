"""How long each model's answers run, learned from this process's own traffic, to price a request
before it is sent.

A candidate's estimated cost is its prompt plus its expected answer. Without history the answer is
assumed to be 256 tokens (8 when the prompt asks for one word or letter), the same for every model.
That misprices exactly the models a router is tempted by: a reasoning model cheap per token bills
its hidden reasoning as output, often thousands of tokens an answer, and a terse model answers in
a few dozen. So each model's answered calls (completion tokens, reasoning included) are kept, apart
for prompts that ask for a one-word answer, and its expected answer is their mean shrunk toward the
assumption by `PRIOR_CALLS` calls' worth: one long answer moves it a little, twenty settle it.
A client's `max_tokens` caps the expectation (it caps the answer). Only this process's calls are
seen; each worker learns on its own.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from satisfice.bounded import MAX_KEYS, touch
from satisfice.catalog import ModelInfo

LENGTH_SAMPLES = 200  # recent answers per model and kind of prompt
PRIOR_CALLS = 5.0  # the assumption's weight, in calls, against the observed mean


class _Window:
    """The last `size` lengths and their sum (kept, so a mean costs no pass over them)."""

    __slots__ = ("lengths", "total")

    def __init__(self, size: int) -> None:
        self.lengths: deque[int] = deque(maxlen=size)
        self.total = 0

    def add(self, n: int) -> None:
        if len(self.lengths) == self.lengths.maxlen:
            self.total -= self.lengths[0]
        self.lengths.append(n)
        self.total += n


class OutputLengths:
    """Recent answer lengths per (model id, short-answer prompt), in this process."""

    def __init__(self, size: int = LENGTH_SAMPLES, max_keys: int = MAX_KEYS) -> None:
        self.size = size
        self.max_keys = max_keys  # models remembered (a passthrough serves any model name)
        self._seen: dict[tuple[str, bool], _Window] = {}
        self._lock = threading.Lock()

    def observe(self, model: str, short: bool, completion_tokens: int) -> None:
        """One answered call's output tokens (hidden reasoning included)."""
        if completion_tokens > 0:
            with self._lock:
                touch(self._seen, (model, short), lambda: _Window(self.size), self.max_keys).add(
                    completion_tokens
                )

    def expected(self, model: str, short: bool, assumed: int) -> int:
        """The model's expected answer length: its observed mean shrunk toward `assumed`."""
        seen = self._seen.get((model, short))
        if seen is None:
            return assumed
        return round((seen.total + PRIOR_CALLS * assumed) / (len(seen.lengths) + PRIOR_CALLS))

    def expected_many(self, infos: Sequence[ModelInfo], short: bool, assumed: int) -> list[int] | None:
        """`expected` of each candidate; None when none of them has answered yet (the assumption
        holds for all, and the caller prices them with one number)."""
        if not self._seen or not any((i.id, short) in self._seen for i in infos):
            return None
        return [self.expected(i.id, short, assumed) for i in infos]
