"""Which header names the caller: its key's digest is the ledger's tenant (and the key's knob,
limits and cache scope follow it)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from satisfice.keys import key_digest
from satisfice.server.http import tenant_of
from tests.gateway_proc import GatewayProcess


def _tenant(gw: GatewayProcess, path: str, body: dict[str, object], headers: dict[str, str]) -> str:
    req = urllib.request.Request(
        gw.url + path, data=json.dumps(body).encode(), headers={"content-type": "application/json", **headers}
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        rid = resp.headers["x-satisfice-request-id"]
    return str(gw.row(rid)["tenant"])


CHAT: dict[str, object] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES: dict[str, object] = {
    "model": "claude-3-5-haiku",
    "max_tokens": 20,
    "messages": [{"role": "user", "content": "hi"}],
}


@pytest.mark.parametrize(
    ("path", "body", "headers", "key"),
    [
        # Both headers: Anthropic's API reads x-api-key, OpenAI's Authorization.
        ("/v1/messages", MESSAGES, {"authorization": "Bearer other", "x-api-key": "sk-ant"}, "sk-ant"),
        ("/v1/chat/completions", CHAT, {"authorization": "Bearer sk-oai", "x-api-key": "other"}, "sk-oai"),
        # An SDK given an empty key sends "Bearer " alone: no key, so x-api-key's counts.
        ("/v1/chat/completions", CHAT, {"authorization": "Bearer ", "x-api-key": "sk-x"}, "sk-x"),
        ("/v1/chat/completions", CHAT, {"authorization": "bearer   sk-spaced "}, "sk-spaced"),
        ("/v1/chat/completions", CHAT, {"authorization": "sk-raw"}, "sk-raw"),
    ],
)
def test_the_callers_key_is_read_from_the_header_its_api_reads(
    gateway: GatewayProcess, path: str, body: dict[str, object], headers: dict[str, str], key: str
) -> None:
    assert _tenant(gateway, path, body, headers) == tenant_of(key_digest(key))


def test_an_empty_bearer_alone_is_no_key(gateway: GatewayProcess) -> None:
    """It was the tenant of the key "Bearer"."""
    assert _tenant(gateway, "/v1/chat/completions", CHAT, {"authorization": "Bearer "}) == ""
