"""A circuit breaker per deployment: open after N failures within a window, one half-open probe
after a cooldown. In-process state behind a small interface (a Redis board comes with scale-out);
the clock is injected so tests never sleep."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from satisfice.bounded import MAX_KEYS

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
log = logging.getLogger("satisfice.breaker")


@dataclass(slots=True)
class _State:
    failures: deque[float] = field(default_factory=deque)
    opened_at: float | None = None
    probing: bool = False


class BreakerBoard:
    def __init__(
        self,
        failures: int = 5,
        window_s: float = 30.0,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.threshold = failures
        self.max_keys = max_keys
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.clock = clock
        self._states: dict[str, _State] = {}  # least recently failed first

    def state(self, key: str) -> str:
        st = self._states.get(key)
        if st is None or st.opened_at is None:
            return CLOSED
        if self.clock() - st.opened_at >= self.cooldown_s:
            return HALF_OPEN
        return OPEN

    def allow(self, key: str) -> bool:
        """May a call go to this deployment now? In half-open state only one probe at a time."""
        st = self._states.get(key)
        if st is None or st.opened_at is None:
            return True
        if self.clock() - st.opened_at < self.cooldown_s or st.probing:
            return False
        st.probing = True
        return True

    def record_success(self, key: str) -> None:
        st = self._states.get(key)
        if st is not None:
            if st.opened_at is not None:
                log.warning("circuit closed for %s: a probe succeeded", key)
            st.failures.clear()
            st.opened_at = None
            st.probing = False

    def record_failure(self, key: str) -> None:
        now = self.clock()
        st = self._states.pop(key, None) or _State()
        self._states[key] = st  # the most recently failed last
        if len(self._states) > self.max_keys:
            self._forget_one()
        if st.opened_at is not None:
            # A failed half-open probe re-opens for another cooldown.
            st.opened_at = now
            st.probing = False
            return
        st.failures.append(now)
        while st.failures and now - st.failures[0] > self.window_s:
            st.failures.popleft()
        if len(st.failures) >= self.threshold:
            st.opened_at = now
            st.failures.clear()
            # One line when it opens (not per refused request): what an operator acts on.
            log.warning("circuit opened for %s: %d failures within %g s", key, self.threshold, self.window_s)

    def release_probe(self, key: str) -> None:
        """A half-open probe ended without a verdict (e.g. the client left): let another try."""
        st = self._states.get(key)
        if st is not None:
            st.probing = False

    def _forget_one(self) -> None:
        """Drop the least recently failed closed breaker (an open one only when all are open). A
        passthrough provider makes a breaker per model name a client sends: the board keeps
        `max_keys` of them, and open ones are what it must not forget."""
        closed = next((k for k, st in self._states.items() if st.opened_at is None), None)
        del self._states[closed if closed is not None else next(iter(self._states))]

    def snapshot(self) -> dict[str, str]:
        return {key: self.state(key) for key in self._states}
