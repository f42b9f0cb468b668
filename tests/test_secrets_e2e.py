"""Provider secrets never reach a client or the ledger, through the real gateway.

Every provider below has distinctive fake secrets (its key, a custom header, a password in its base
URL). The fake upstream misbehaves on request: it quotes the credentials it received in errors and
in error events mid-stream, redirects to another origin or to itself, or answers with a malformed
HTTP response. Each test asserts the secrets are in no response (status line, headers, body) and in
no file the gateway wrote (the ledger and its -wal included), and that nothing was sent to where a
redirect pointed.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import single_call_reliability
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

OPENAI_KEY = "sk-SECRETTEST-openai-7f3a9c21"
ANTHROPIC_KEY = "sk-ant-SECRETTEST-anth-51b2e8"
GEMINI_KEY = "AIza-SECRETTEST-gem-88d1f0"
AZURE_KEY = "az-SECRETTEST-azure-0c4e77"
HEADER_SECRET = "hdr-SECRETTEST-custom-9e27aa"
URL_PASSWORD = "urlpass-SECRETTEST-3d5f19"
URL_USER = "svcuser"
# What aiohttp sends as `Authorization: Basic ...` for the credentials in a base URL.
BASIC_TOKEN = base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode()
SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY, AZURE_KEY, HEADER_SECRET, URL_PASSWORD, BASIC_TOKEN)
MSGS = [{"role": "user", "content": "hi there"}]


@pytest.fixture(scope="module")
def sink() -> Iterator[FakeUpstream]:
    """Another origin, where the redirects point: it must never be asked anything."""
    with FakeUpstream() as fake:
        yield fake


def _config(up: FakeUpstream, sink: FakeUpstream) -> dict[str, Any]:
    port = sink.url.rsplit(":", 1)[1]
    redirect = f"{up.url}/_fake/redirect/{port}/captured"
    secret_header = {"x-custom-secret": "${T_HEADER}"}

    def provider(name: str, kind: str, base_url: str, key: str | None, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "type": kind, "base_url": base_url, "passthrough": True}
        if key is not None:
            out["api_key"] = "${" + key + "}"
        return {**out, **extra}

    return {
        "reliability": single_call_reliability(5.0, 8.0),
        "providers": [
            provider("oai", "openai", up.openai_base, "T_OPENAI", headers=secret_header),
            provider("ant", "anthropic", up.anthropic_base, "T_ANTHROPIC", headers=secret_header),
            provider("gem", "gemini", up.gemini_base, "T_GEMINI", headers=secret_header),
            provider("az", "azure", up.url, "T_AZURE", headers=secret_header),
            provider("cred", "openai", "${T_CRED_URL}", None),
            provider("roai", "openai", f"{redirect}/v1", "T_OPENAI", headers=secret_header),
            provider("rant", "anthropic", f"{redirect}/v1", "T_ANTHROPIC", headers=secret_header),
            provider("rgem", "gemini", f"{redirect}/v1beta", "T_GEMINI", headers=secret_header),
            provider("raz", "azure", redirect, "T_AZURE", headers=secret_header),
            provider("loop", "openai", f"{up.url}/_fake/loop/v1", "T_OPENAI", headers=secret_header),
        ],
    }


@pytest.fixture(scope="module")
def gw(
    upstream: FakeUpstream, sink: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {
        "T_OPENAI": OPENAI_KEY,
        "T_ANTHROPIC": ANTHROPIC_KEY,
        "T_GEMINI": GEMINI_KEY,
        "T_AZURE": AZURE_KEY,
        "T_HEADER": HEADER_SECRET,
        "T_CRED_URL": f"http://{URL_USER}:{URL_PASSWORD}@{upstream.url.removeprefix('http://')}/v1",
    }
    with GatewayProcess(tmp_path_factory.mktemp("secrets"), _config(upstream, sink), env=env) as g:
        yield g
    assert_clean(g.output.encode(), "the gateway's own output")  # its banner and logs


def call(gw: GatewayProcess, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    """One request; the status and everything the client received (headers and body) as bytes."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        gw.url + path,
        data=data,
        method="GET" if body is None else "POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, headers, payload = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, payload = e.code, e.headers, e.read()
    seen = str(status).encode() + b"\n" + str(headers).encode() + b"\n" + payload
    return status, seen


def assert_clean(seen: bytes, where: str) -> None:
    for secret in SECRETS:
        assert secret.encode() not in seen, f"{where}: a secret ({secret[:12]}...) leaked:\n{seen[:2000]!r}"


def assert_store_clean(gw: GatewayProcess, rows: int) -> None:
    """Every file the gateway wrote (ledger, its -wal, learning store...), but its config."""
    assert len(gw.rows(rows)) >= rows
    files = [p for p in Path(gw.tmp).rglob("*") if p.is_file() and p != gw.config_path]
    assert any(p.name.endswith("-wal") for p in files) or any(p.name == "ledger.db" for p in files)
    for p in files:
        assert_clean(p.read_bytes(), str(p))


def requests_made(model: str, stream: bool) -> list[tuple[str, dict[str, Any]]]:
    """The same model through the three endpoints that call a chat upstream."""
    chat = {"model": model, "messages": MSGS, "stream": stream}
    messages = {"model": model, "messages": MSGS, "max_tokens": 20, "stream": stream}
    return [("/v1/chat/completions", chat), ("/v1/messages", messages)]


# --- 1: transport failures are described, not repr'd -----------------------------------------------


@pytest.mark.parametrize("model", ["loop/m-1", "oai/garbage", "ant/garbage", "gem/garbage", "az/garbage"])
@pytest.mark.parametrize("stream", [False, True])
def test_transport_failures_do_not_quote_the_request(gw: GatewayProcess, model: str, stream: bool) -> None:
    calls = requests_made(model, stream)
    if model.startswith(("loop/", "oai/", "az/")) and not stream:
        calls.append(("/v1/embeddings", {"model": model, "input": "hello"}))
    rows = len(gw.rows()) + len(calls)
    for path, body in calls:
        status, seen = call(gw, path, body)
        assert status == 502, seen
        assert_clean(seen, f"{path} {model}")
    assert_store_clean(gw, rows)


# --- 2: redirects are never followed ----------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["roai/gpt-4o-mini", "rant/claude-3-5-haiku", "rgem/gemini-2.0-flash", "raz/dep"]
)
@pytest.mark.parametrize("stream", [False, True])
def test_redirects_are_not_followed(
    gw: GatewayProcess, upstream: FakeUpstream, sink: FakeUpstream, model: str, stream: bool
) -> None:
    sink.reset()
    upstream.reset()
    calls = requests_made(model, stream)
    if model.startswith(("roai/", "raz/")) and not stream:
        calls.append(("/v1/embeddings", {"model": model, "input": "hello"}))
    rows = len(gw.rows()) + len(calls)
    for path, body in calls:
        status, seen = call(gw, path, body)
        assert status == 502, seen
        assert b"redirect" in seen and b"307" in seen, seen
        assert b"captured" not in seen  # the Location is not quoted
        assert_clean(seen, f"{path} {model}")
    assert [r["raw_path"] for r in upstream.requests()], "the redirecting upstream was never asked"
    assert all(r["raw_path"].startswith("/_fake/redirect/") for r in upstream.requests())
    assert sink.requests() == [], "a redirect was followed to another origin"
    assert_store_clean(gw, rows)


def test_a_listed_models_redirect_is_not_followed(gw: GatewayProcess, sink: FakeUpstream) -> None:
    sink.reset()
    status, seen = call(gw, "/v1/models")
    assert status == 200
    assert_clean(seen, "/v1/models")
    assert sink.requests() == [], "listing a passthrough provider's models followed a redirect"


# --- 3: upstream words quoting the key are redacted -------------------------------------------------


@pytest.mark.parametrize(
    ("model", "status"),
    [
        ("oai/echokey-401", 401),
        ("oai/echokey-400", 400),  # param and code quote the key too, and are passed on with a 4xx
        ("oai/echokey-500", 502),
        ("ant/echokey-401", 401),
        ("ant/echokey-400", 400),
        ("gem/echokey-401", 401),
        ("az/echokey-401", 401),
        ("cred/echokey-401", 401),  # the Basic token aiohttp builds from the base URL's user:password
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_errors_quoting_the_key_are_redacted(
    gw: GatewayProcess, upstream: FakeUpstream, model: str, status: int, stream: bool
) -> None:
    upstream.reset()
    calls = requests_made(model, stream)
    if model.startswith(("oai/", "az/", "cred/")) and not stream:
        calls.append(("/v1/embeddings", {"model": model, "input": "hello"}))
    rows = len(gw.rows()) + len(calls)
    for path, body in calls:
        got, seen = call(gw, path, body)
        assert got == status, seen
        assert b"[redacted]" in seen, seen
        assert_clean(seen, f"{path} {model}")
    sent = json.dumps(upstream.requests())
    assert any(s in sent for s in SECRETS), "the fake never received a secret to quote"
    assert_store_clean(gw, rows)


@pytest.mark.parametrize("model", ["oai/echokeystream", "ant/echokeystream", "gem/echokeystream"])
def test_error_events_inside_streams_are_redacted(gw: GatewayProcess, model: str) -> None:
    calls = requests_made(model, True)
    rows = len(gw.rows()) + len(calls)
    for path, body in calls:
        status, seen = call(gw, path, body)
        # The error may come before the gateway commits to a 200 (then it is the error response:
        # a 502, or Anthropic's 529 when the upstream said it was overloaded).
        assert status in (200, 502, 529), seen
        assert b"mid-stream failure for key" in seen and b"[redacted]" in seen, seen
        assert_clean(seen, f"{path} {model}")
    assert_store_clean(gw, rows)


# --- 4: passthrough names stay one path segment ----------------------------------------------------


@pytest.mark.parametrize(
    "model",
    ["gem/../../../anything?x=", "az/../../../anything?x=", "az/..", "gem/..", "gem/a#b/../..", "az/x/../y"],
)
def test_passthrough_names_stay_one_path_segment(
    gw: GatewayProcess, upstream: FakeUpstream, model: str
) -> None:
    upstream.reset()
    call(gw, "/v1/chat/completions", {"model": model, "messages": MSGS})
    raws = [r["raw_path"] for r in upstream.requests()]
    assert raws, "the upstream was never asked"
    name = model.split("/", 1)[1]
    for raw in raws:
        path, _, query = raw.partition("?")
        parts = path.split("/")
        assert not {".", ".."} & set(parts), raw
        if model.startswith("gem/"):
            assert parts[:3] == ["", "v1beta", "models"] and len(parts) == 4, raw
            segment, _, method = parts[3].rpartition(":")
            assert method == "generateContent" and query == "", raw
        else:
            assert parts[:3] == ["", "openai", "deployments"] and parts[4:] == ["chat", "completions"], raw
            assert query == "api-version=2024-10-21", raw
            segment = parts[3]
        assert urllib.parse.unquote(segment) == name, raw  # the whole name, in one segment
