"""Per-key settings: callers recognised by their API key, each with its own default knob.

Config shape (every entry needs exactly one of `key` and `key_sha256`):

    keys:
      analytics:
        key: ${ANALYTICS_KEY}        # an environment reference to the key the caller sends, or
        key_sha256: 9f86d08188...    # its SHA-256 in hex, so that the file never holds the key
        knob: quality=0.9            # this key's knob on every auto-routed request

Only the SHA-256 of each key is kept in memory; the key is never logged or returned. A request's
knob is, first to last: the model suffix (`auto:0.9`), the `x-satisfice-knob` header, the caller's
key, the route's `knob:`. Budgets and issued keys (virtual keys proper) build on this section.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from satisfice.errors import GatewayError

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_ENTRY_KEYS = ("key", "key_sha256", "knob")


@dataclass(frozen=True, slots=True)
class KeySettings:
    name: str
    digest: str  # SHA-256 of the key, hex
    knob: str | None = None

    def __repr__(self) -> str:  # the digest identifies a secret: keep it out of logs too
        return f"KeySettings(name={self.name!r}, knob={self.knob!r})"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyBook:
    """Configured keys by digest; an unknown or missing key has no settings."""

    def __init__(self, keys: tuple[KeySettings, ...] = ()) -> None:
        self._by_digest = {k.digest: k for k in keys}

    def __len__(self) -> int:
        return len(self._by_digest)

    def find(self, digest: str) -> KeySettings | None:
        return self._by_digest.get(digest) if digest else None


def keys_from_config(obj: object, env: Mapping[str, str]) -> tuple[KeySettings, ...]:
    """The `keys:` section; ConfigError naming the key on any mistake."""
    from satisfice.config import ConfigError, config_section, resolve_env
    from satisfice.routing.knob import parse_knob

    if obj is None:
        return ()
    if not isinstance(obj, Mapping):
        raise ConfigError("keys", f"expected a mapping of key names to settings, got {type(obj).__name__}")
    out: list[KeySettings] = []
    seen: dict[str, str] = {}
    for name, raw in obj.items():
        where = f"keys.{name}"
        entry = config_section(raw, where, _ENTRY_KEYS)
        if ("key" in entry) == ("key_sha256" in entry):
            raise ConfigError(where, "give exactly one of 'key' (an environment reference) and 'key_sha256'")
        if "key" in entry:
            if not isinstance(entry["key"], str):
                raise ConfigError(f"{where}.key", "expected a string")
            value, source = resolve_env(entry["key"], f"{where}.key", env)
            if source == "config":
                raise ConfigError(
                    f"{where}.key",
                    "write the key as an environment reference (${VAR} or env:VAR), or give key_sha256",
                )
            if not value:
                raise ConfigError(f"{where}.key", f"the environment variable {source} is not set")
            digest = key_digest(value.strip())
        else:
            digest = str(entry["key_sha256"]).strip().lower()
            if not _HEX64.match(digest):
                raise ConfigError(f"{where}.key_sha256", "expected 64 hexadecimal digits (a SHA-256)")
        knob = entry.get("knob")
        if knob is not None:
            knob = str(knob)
            try:
                parse_knob(knob)
            except GatewayError as e:
                raise ConfigError(f"{where}.knob", e.message) from None
        if digest in seen:
            raise ConfigError(where, f"the same key as keys.{seen[digest]}")
        seen[digest] = str(name)
        out.append(KeySettings(str(name), digest, knob))
    return tuple(out)
