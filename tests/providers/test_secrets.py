"""Provider secrets at the provider layer: redaction, URL building, reprs, and the runner's failures.

End-to-end checks through the real gateway are in tests/test_secrets_e2e.py.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from typing import Any

import aiohttp
import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from satisfice.providers.anthropic import ANTHROPIC
from satisfice.providers.base import Deployment, path_segment
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.gemini import GEMINI
from satisfice.providers.openai_compat import AZURE, OPENAI
from satisfice.providers.redact import redact, redact_bytes, secrets_of
from satisfice.providers.runner import HTTPRunner, _why
from tests.fakes.upstream import FakeUpstream

KEY = "sk-SECRETUNIT-key-1234abcd"
HEADER = "hdr-SECRETUNIT-5678efgh"
PASSWORD = "pw-SECRETUNIT/9+x"
PASSWORD_IN_URL = "pw-SECRETUNIT%2F9%2Bx"
QUERY_TOKEN = "qtok-SECRETUNIT-0000"
MSGS = [{"role": "user", "content": "hi"}]


def dep(dialect: str = "openai", **kw: Any) -> Deployment:
    base: dict[str, Any] = {
        "provider": "p",
        "model": "m",
        "upstream_model": "m-up",
        "base_url": "https://api.example.com/v1",
        "dialect": dialect,
        "api_key": KEY,
        "headers": (("x-custom-secret", HEADER), ("x-short", "on")),
    }
    base.update(kw)
    return Deployment(**base)


# --- redact ------------------------------------------------------------------------------------------


def test_redact_removes_the_key_and_configured_header_values() -> None:
    d = dep()
    text = f"Incorrect API key provided: Bearer {KEY}; header {HEADER}; switch on"
    out = redact(text, d)
    assert KEY not in out and HEADER not in out
    assert (
        out == "Incorrect API key provided: Bearer [redacted]; header [redacted]; switch on"
    )  # "on" is short


def test_redact_removes_credentials_in_the_base_url_and_their_basic_token() -> None:
    quoted = PASSWORD_IN_URL
    d = dep(api_key=None, headers=(), base_url=f"https://svc-user:{quoted}@h.example/v1?token={QUERY_TOKEN}")
    basic = base64.b64encode(f"svc-user:{PASSWORD}".encode()).decode()
    for leaked in (PASSWORD, quoted, basic, QUERY_TOKEN):
        out = redact(f"upstream said: {leaked}!", d)
        assert leaked not in out and "[redacted]" in out, out


def test_redact_catches_json_escaped_forms_and_bytes() -> None:
    d = dep(api_key='sk-with"quote/slash-1234')
    body = orjson.dumps({"error": {"message": f"bad key {d.api_key}"}})
    assert b"quote" not in redact_bytes(body, d)
    assert "quote" not in redact(body.decode(), d)
    assert "quote" not in redact('bad key sk-with\\"quote\\/slash-1234', d)
    assert redact_bytes(b"no secret here", d) == b"no secret here"


def test_redact_without_a_deployment_or_secrets_changes_nothing() -> None:
    assert redact(f"x {KEY}", None) == f"x {KEY}"
    assert secrets_of(dep(api_key=None, headers=())) == ()


# --- URLs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "segment"),
    [
        ("gemini-1.5-pro", "gemini-1.5-pro"),  # unreserved characters stay as they are
        ("../../../anything?x=", "..%2F..%2F..%2Fanything%3Fx%3D"),
        ("a#b", "a%23b"),
        ("50%", "50%25"),
        ("..", "%2E%2E"),
        (".", "%2E"),
    ],
)
def test_path_segment_leaves_nothing_that_changes_the_path(name: str, segment: str) -> None:
    assert path_segment(name) == segment


@pytest.mark.parametrize("name", ["../../../anything?x=", "..", "a/b#c"])
def test_gemini_and_azure_put_a_passthrough_name_in_one_segment(name: str) -> None:
    g = GEMINI.build_chat(
        dep("gemini", upstream_model=name, base_url="http://h/v1beta"), {"messages": MSGS}, stream=True
    )
    url = URL(g.url, encoded=True)  # as the runner sends it
    assert url.raw_path == f"/v1beta/models/{path_segment(name)}:streamGenerateContent"
    assert url.query_string == "alt=sse"
    a = AZURE.build_chat(
        dep("azure", upstream_model=name, base_url="http://h"), {"messages": MSGS}, stream=False
    )
    url = URL(a.url, encoded=True)
    assert url.raw_path == f"/openai/deployments/{path_segment(name)}/chat/completions"
    assert url.query_string == "api-version=2024-10-21"


def test_every_request_knows_its_deployment_and_hides_its_credentials_in_repr() -> None:
    d = dep()
    body = {"model": "m", "messages": MSGS, "input": "x"}
    reqs = [
        OPENAI.build_chat(d, body, stream=False),
        OPENAI.build_embeddings(d, body),
        AZURE.build_chat(d, body, stream=True),
        AZURE.build_embeddings(d, body),
        ANTHROPIC.build_chat(d, body, stream=False),
        GEMINI.build_chat(d, body, stream=False),
    ]
    for req in reqs:
        assert req.deployment is d
        assert KEY not in repr(req) and HEADER not in repr(req)


def test_deployment_repr_hides_headers_key_and_base_url() -> None:
    d = dep(base_url=f"https://u:{PASSWORD_IN_URL}@h.example/v1")
    shown = repr(d)
    assert KEY not in shown and HEADER not in shown and "SECRETUNIT" not in shown
    assert "provider='p'" in shown and "upstream_model='m-up'" in shown


# --- the runner --------------------------------------------------------------------------------------


def _request_info() -> aiohttp.RequestInfo:
    headers = CIMultiDictProxy(CIMultiDict({"authorization": f"Bearer {KEY}", "x-custom-secret": HEADER}))
    url = URL(f"https://u:{PASSWORD_IN_URL}@h.example/v1/chat/completions")
    return aiohttp.RequestInfo(url, "POST", headers, url)


@pytest.mark.parametrize(
    "exc",
    [
        aiohttp.TooManyRedirects(_request_info(), ()),
        aiohttp.ClientResponseError(_request_info(), (), status=400, message=f"Invalid header {KEY}"),
        aiohttp.ClientPayloadError(f"payload {KEY}"),
        aiohttp.ServerDisconnectedError(f"gone {KEY}"),
        aiohttp.InvalidURL(f"https://u:{PASSWORD_IN_URL}@h.example/"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_failures_are_described_without_the_exception_text(exc: BaseException) -> None:
    assert "SECRETUNIT" in repr(exc) or "reset" in repr(exc)  # what used to be quoted
    why = _why(exc)
    assert "SECRETUNIT" not in why and "h.example" not in why


async def _complete(runner: HTTPRunner, d: Deployment, model: str) -> AttemptFailed:
    """Call `model` (a fake-upstream behaviour) through `d`; the failure it ends in."""
    await runner.start()
    try:
        await runner.complete(OPENAI, replace(d, upstream_model=model), {"model": "m", "messages": MSGS})
    except AttemptFailed as e:
        return e
    finally:
        await runner.close()
    raise AssertionError("the call did not fail")


def test_runner_fails_a_redirect_without_following_it() -> None:
    with FakeUpstream() as up, FakeUpstream() as sink:
        port = sink.url.rsplit(":", 1)[1]
        d = dep(base_url=f"{up.url}/_fake/redirect/{port}/captured/v1")
        e = asyncio.run(_complete(HTTPRunner(), d, "gpt-4o-mini"))
        assert e.kind is FailureKind.BAD_RESPONSE and e.status == 307
        assert "redirect" in e.message and "captured" not in e.message and port not in e.message
        assert [r["path"] for r in up.requests()] == [
            "/_fake/redirect/" + port + "/captured/v1/chat/completions"
        ]
        assert sink.requests() == []


def test_runner_describes_a_malformed_response_without_the_request() -> None:
    with FakeUpstream() as up:
        e = asyncio.run(_complete(HTTPRunner(), dep(base_url=up.openai_base), "garbage"))
    assert e.kind is FailureKind.CONNECTION and "malformed" in e.message
    assert KEY not in e.message and HEADER not in e.message and "127.0.0.1" not in e.message


def test_runner_redacts_an_error_quoting_the_key_in_message_param_and_code() -> None:
    with FakeUpstream() as up:
        e = asyncio.run(_complete(HTTPRunner(), dep(base_url=up.openai_base), "echokey-400"))
    assert e.kind is FailureKind.CLIENT_ERROR and e.status == 400
    for text in (e.message, e.param or "", e.code or ""):
        assert KEY not in text and HEADER not in text and "[redacted]" in text, text
