"""Per-key settings: the `keys:` config section and the knob a caller's key brings."""

from __future__ import annotations

import hashlib

import pytest

from satisfice.config import ConfigError, parse_settings
from satisfice.keys import KeyBook, key_digest


def err(doc: object, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as e:
        parse_settings(doc, env or {})
    return str(e.value)


def test_keys_by_environment_reference_or_digest() -> None:
    digest = hashlib.sha256(b"team-b-secret").hexdigest()
    s = parse_settings(
        {
            "keys": {
                "team-a": {"key": "${TEAM_A_KEY}", "knob": "quality=0.9"},
                "team-b": {"key_sha256": digest.upper(), "knob": 0.8},
                "team-c": {"key": "env:TEAM_C_KEY"},
            }
        },
        {"TEAM_A_KEY": "team-a-secret", "TEAM_C_KEY": "team-c-secret"},
    )
    a, b, c = s.keys
    assert (a.name, a.digest, a.knob) == ("team-a", key_digest("team-a-secret"), "quality=0.9")
    assert (b.digest, b.knob) == (digest, "0.8")
    assert c.knob is None
    shown = repr(s)
    assert "team-a-secret" not in shown and a.digest not in shown and digest not in shown
    book = KeyBook(s.keys)
    assert book.find(key_digest("team-b-secret")) is b
    assert book.find(key_digest("someone else")) is None and book.find("") is None


def test_key_config_errors_name_the_entry() -> None:
    env = {"K": "secret", "K2": "secret"}
    assert err({"keys": ["x"]}).startswith("keys:")
    assert err({"keys": {"a": {"knob": "0.9"}}}).startswith("keys.a:")
    assert err({"keys": {"a": {"key": "${K}", "key_sha256": "0" * 64}}}, env).startswith("keys.a:")
    literal = err({"keys": {"a": {"key": "sk-in-the-file"}}})
    assert literal.startswith("keys.a.key:") and "sk-in-the-file" not in literal
    assert err({"keys": {"a": {"key": "${UNSET}"}}}).startswith("keys.a.key:")
    assert err({"keys": {"a": {"key_sha256": "abc"}}}).startswith("keys.a.key_sha256:")
    assert err({"keys": {"a": {"key": "${K}", "knob": "fast"}}}, env).startswith("keys.a.knob:")
    assert err({"keys": {"a": {"key": "${K}", "colour": 1}}}, env).startswith("keys.a.colour:")
    dup = err({"keys": {"a": {"key": "${K}"}, "b": {"key": "${K2}"}}}, env)
    assert dup.startswith("keys.b:") and "keys.a" in dup
