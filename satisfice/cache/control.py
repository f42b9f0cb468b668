"""Per-request cache control: the route's policy, then the request's own headers.

- `x-satisfice-cache: off | read | write | on` asks explicitly (read: serve from the cache but do
  not store; write: fetch fresh and store; on: both) and so overrides the `temperature-0` rule.
- `Cache-Control: no-store` (neither), `no-cache` (fetch fresh, may store), `max-age=N` (serve only
  entries at most N seconds old) can only narrow what is allowed.
- A route with `when: never` and the header `off` always win.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from satisfice.cache.settings import CachePolicy
from satisfice.errors import InvalidRequest

_MODES = {"off": (False, False), "read": (True, False), "write": (False, True), "on": (True, True)}


@dataclass(frozen=True, slots=True)
class CacheUse:
    read: bool
    write: bool
    max_age_s: float | None = None

    @property
    def active(self) -> bool:
        return self.read or self.write


OFF = CacheUse(False, False)


def _by_default(policy: CachePolicy, body: dict[str, Any]) -> bool:
    if policy.when == "always":
        return True
    temperature = body.get("temperature")
    # OpenAI's default temperature is 1: an answer that is meant to vary is not reused by default.
    return policy.when == "temperature-0" and temperature is not None and float(temperature) == 0.0


def _cache_control(value: str) -> tuple[bool, bool, float | None]:
    read, write, max_age = True, True, None
    for directive in value.split(","):
        name, _, arg = directive.strip().partition("=")
        name = name.strip().lower()
        if name == "no-store":
            read = write = False
        elif name == "no-cache":
            read = False
        elif name == "max-age":
            arg = arg.strip().strip('"')
            if not arg.isdigit():
                raise InvalidRequest(
                    f"Invalid Cache-Control max-age {arg!r}: expected a whole number of seconds.",
                    param="Cache-Control",
                )
            max_age = float(arg)
            read = read and max_age > 0
    return read, write, max_age


def cache_use(policy: CachePolicy | None, body: dict[str, Any], headers: Mapping[str, str]) -> CacheUse:
    """What this request may do with the cache. Raises InvalidRequest for a malformed header."""
    explicit = headers.get("x-satisfice-cache")
    mode: tuple[bool, bool] | None = None
    if explicit is not None:
        mode = _MODES.get(explicit.strip().lower())
        if mode is None:
            raise InvalidRequest(
                f"Invalid x-satisfice-cache header {explicit!r}: expected off, read, write or on.",
                param="x-satisfice-cache",
            )
    control = headers.get("cache-control")
    narrowed = _cache_control(control) if control else (True, True, None)
    if policy is None or policy.when == "never":
        return OFF
    if mode is not None:
        read, write = mode
    elif _by_default(policy, body):
        # `store: true` asks the provider to keep this completion (for evals, distillation): only a
        # call makes one, so no cached answer is served (unless the header asks for one).
        read, write = body.get("store") is not True, True
    else:
        return OFF
    return CacheUse(read and narrowed[0], write and narrowed[1], narrowed[2])
