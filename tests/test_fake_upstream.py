"""The fake upstream itself: every behaviour token, all three provider shapes, the log and runner."""

from __future__ import annotations

import asyncio
import base64
import http.client
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.fakes.upstream import FakeUpstream

JSON = dict[str, Any]
USER = [{"role": "user", "content": "hello there world"}]
# Plain opener: never route 127.0.0.1 through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="module")
def server() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture()
def up(server: FakeUpstream) -> FakeUpstream:
    server.reset()
    return server


def call(
    up: FakeUpstream, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Message, bytes]:
    data = None if body is None else orjson.dumps(body)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(
        up.url + path, data=data, headers=hdrs, method="GET" if data is None else "POST"
    )
    try:
        with _OPENER.open(req, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def call_json(up: FakeUpstream, path: str, body: Any = None, headers: dict[str, str] | None = None) -> JSON:
    status, _, raw = call(up, path, body, headers)
    assert status == 200, raw
    out: JSON = orjson.loads(raw)
    return out


def parse_sse(raw: bytes) -> list[tuple[str | None, str]]:
    events: list[tuple[str | None, str]] = []
    for block in raw.replace(b"\r\n", b"\n").decode().split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            events.append((name, "\n".join(data)))
    return events


def stream(up: FakeUpstream, path: str, body: JSON) -> list[tuple[str | None, str]]:
    status, headers, raw = call(up, path, body)
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream"), raw
    return parse_sse(raw)


async def _read_until_error(url: str, body: JSON) -> tuple[int, Exception | None]:
    """Count SSE data lines until the body ends or the connection breaks."""
    seen = 0
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        try:
            async for line in resp.content:
                seen += line.startswith(b"data:")
        except aiohttp.ClientPayloadError as exc:
            return seen, exc
    return seen, None


# --- normal answers ---------------------------------------------------------------------------------


def test_openai_json_and_request_log(up: FakeUpstream) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "be brief"}, *USER]}
    out = call_json(up, "/v1/chat/completions", body, {"Authorization": "Bearer sk-test"})
    assert out["object"] == "chat.completion" and out["model"] == "gpt-4o-mini"
    assert out["choices"][0]["message"]["content"] == "echo: hello there world"
    assert out["choices"][0]["finish_reason"] == "stop"
    usage = out["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (8, 4, 12)
    [rec] = up.requests()
    assert rec["path"] == "/v1/chat/completions" and rec["method"] == "POST" and rec["model"] == "gpt-4o-mini"
    assert rec["headers"]["authorization"] == "Bearer sk-test" and rec["body"] == body
    assert rec["finished"] and not rec["cancelled"] and rec["status"] == 200 and rec["seq"] >= 1


def test_openai_stream_with_usage(up: FakeUpstream) -> None:
    body = {"model": "ok", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    events = stream(up, "/v1/chat/completions", body)
    assert events[-1] == (None, "[DONE]")
    chunks = [orjson.loads(d) for _, d in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == chunks[0]["id"] for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "echo: hello there world"
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:5]] == [
        "echo: ",
        "hello ",
        "there ",
        "world",
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4


def test_openai_tools_and_json_mode(up: FakeUpstream) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    out = call_json(up, "/v1/chat/completions", {"model": "m", "messages": USER, "tools": tools})
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    fn = choice["message"]["tool_calls"][0]["function"]
    assert fn["name"] == "lookup" and orjson.loads(fn["arguments"]) == {"echo": "hello there world"}
    body: JSON = {"model": "m", "messages": USER, "tools": tools, "tool_choice": "none"}
    assert call_json(up, "/v1/chat/completions", body)["choices"][0]["finish_reason"] == "stop"
    body = {"model": "m", "messages": USER, "tools": tools, "stream": True}
    chunks = [orjson.loads(d) for _, d in stream(up, "/v1/chat/completions", body)[:-1]]
    args = "".join(c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks[:-1])
    assert orjson.loads(args) == {"echo": "hello there world"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    body = {"model": "m", "messages": USER, "response_format": {"type": "json_object"}}
    content = call_json(up, "/v1/chat/completions", body)["choices"][0]["message"]["content"]
    assert orjson.loads(content) == {"echo": "hello there world"}


def test_anthropic_json_and_tool_use(up: FakeUpstream) -> None:
    body = {"model": "claude-x", "max_tokens": 50, "system": "be brief", "messages": USER}
    out = call_json(up, "/v1/messages", body, {"x-api-key": "ak-test", "anthropic-version": "2023-06-01"})
    assert out["type"] == "message" and out["role"] == "assistant" and out["stop_reason"] == "end_turn"
    assert out["content"] == [{"type": "text", "text": "echo: hello there world"}]
    assert (out["usage"]["input_tokens"], out["usage"]["output_tokens"]) == (8, 4)
    assert up.requests()[0]["headers"]["x-api-key"] == "ak-test"
    body = {**body, "tools": [{"name": "lookup", "input_schema": {"type": "object"}}]}
    out = call_json(up, "/v1/messages", body)
    assert out["stop_reason"] == "tool_use"
    assert out["content"][0]["name"] == "lookup" and out["content"][0]["input"] == {
        "echo": "hello there world"
    }
    status, _, raw = call(up, "/v1/messages", {"model": "claude-x", "messages": USER})
    assert status == 400 and b"max_tokens" in raw  # the real API insists on max_tokens


def test_anthropic_stream(up: FakeUpstream) -> None:
    body = {"model": "claude-x", "max_tokens": 50, "messages": USER, "stream": True}
    events = stream(up, "/v1/messages", body)
    names = [n for n, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    data = [orjson.loads(d) for _, d in events]
    assert all(d["type"] == n for n, d in zip(names, data, strict=True))
    assert "".join(d["delta"]["text"] for d in data if d["type"] == "content_block_delta") == (
        "echo: hello there world"
    )
    assert data[-2]["delta"]["stop_reason"] == "end_turn" and data[-2]["usage"]["output_tokens"] == 4
    assert data[0]["message"]["usage"]["input_tokens"] == 6


def test_gemini_json_and_function_call(up: FakeUpstream) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hello there"}, {"text": "world"}]}]}
    out = call_json(up, "/v1beta/models/gemini-2.0-flash:generateContent", body, {"x-goog-api-key": "gk"})
    cand = out["candidates"][0]
    assert cand["content"] == {"parts": [{"text": "echo: hello there world"}], "role": "model"}
    assert cand["finishReason"] == "STOP"
    assert out["usageMetadata"] == {"promptTokenCount": 6, "candidatesTokenCount": 4, "totalTokenCount": 10}
    [rec] = up.requests()
    assert rec["model"] == "gemini-2.0-flash" and rec["headers"]["x-goog-api-key"] == "gk"
    body["tools"] = [{"functionDeclarations": [{"name": "lookup"}]}]
    part = call_json(up, "/v1beta/models/g:generateContent?key=k", body)["candidates"][0]["content"]["parts"][
        0
    ]
    assert part == {"functionCall": {"name": "lookup", "args": {"echo": "hello there world"}}}
    assert up.requests()[-1]["query"] == {"key": "k"}


def test_gemini_stream(up: FakeUpstream) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "hello there world"}]}]}
    status, _, raw = call(up, "/v1beta/models/slow-10+g:streamGenerateContent?alt=sse", body)
    assert status == 200 and raw.endswith(b"\r\n\r\n")  # Gemini's SSE separator
    chunks = [orjson.loads(d) for _, d in parse_sse(raw)]
    assert (
        "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
        == "echo: hello there world"
    )
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert "finishReason" not in chunks[0]["candidates"][0]
    assert chunks[-1]["usageMetadata"]["candidatesTokenCount"] == 4
    assert up.requests()[0]["model"] == "slow-10+g"


def test_models_and_embeddings(up: FakeUpstream) -> None:
    assert call_json(up, "/v1/models")["object"] == "list"
    one = call_json(up, "/v1/embeddings", {"model": "e", "input": "abc"})
    many = call_json(up, "/v1/embeddings", {"model": "e", "input": ["abc", "other text"]})
    vec = one["data"][0]["embedding"]
    assert len(vec) == 8 and vec == many["data"][0]["embedding"] != many["data"][1]["embedding"]
    assert many["usage"]["prompt_tokens"] == 3
    b64 = call_json(up, "/v1/embeddings", {"model": "e", "input": "abc", "encoding_format": "base64"})
    decoded = struct.unpack("<8f", base64.b64decode(b64["data"][0]["embedding"]))
    assert decoded == pytest.approx(vec, abs=1e-6)


# --- failure behaviours -----------------------------------------------------------------------------


def test_ratelimit_and_error_statuses(up: FakeUpstream) -> None:
    status, headers, raw = call(up, "/v1/chat/completions", {"model": "ratelimit", "messages": USER})
    assert status == 429 and headers["Retry-After"] == "1"
    assert orjson.loads(raw)["error"]["code"] == "rate_limit_exceeded"
    body = {"model": "ratelimit-3", "max_tokens": 5, "messages": USER}
    status, headers, raw = call(up, "/v1/messages", body)
    assert status == 429 and headers["Retry-After"] == "3"
    assert orjson.loads(raw)["error"]["type"] == "rate_limit_error"
    gemini = {"contents": [{"parts": [{"text": "x"}]}]}
    for token, want in [
        ("error500", "INTERNAL"),
        ("error503", "UNAVAILABLE"),
        ("error400", "INVALID_ARGUMENT"),
    ]:
        status, _, raw = call(up, f"/v1beta/models/{token}:generateContent", gemini)
        assert status == int(token[5:]) and orjson.loads(raw)["error"]["status"] == want
    status, _, raw = call(up, "/v1/chat/completions", {"model": "error503", "messages": USER})
    assert status == 503 and orjson.loads(raw)["error"]["type"] == "server_error"


def test_flaky_counts_per_model_and_resets(up: FakeUpstream) -> None:
    def status(model: str) -> int:
        return call(up, "/v1/chat/completions", {"model": model, "messages": USER})[0]

    assert [status("flaky-2"), status("flaky-2"), status("flaky-2+x"), status("flaky-2")] == [
        500,
        500,
        500,
        200,
    ]
    up.reset()
    assert status("flaky-2") == 500 and len(up.requests()) == 1


def test_ctx_for_each_provider(up: FakeUpstream) -> None:
    status, _, raw = call(up, "/v1/chat/completions", {"model": "ctx", "messages": USER})
    err = orjson.loads(raw)["error"]
    assert status == 400 and err["code"] == "context_length_exceeded" and err["param"] == "messages"
    assert err["message"].startswith("This model's maximum context length is 8192 tokens.")
    status, _, raw = call(up, "/v1/messages", {"model": "ctx", "max_tokens": 5, "messages": USER})
    assert status == 400 and orjson.loads(raw) == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "prompt is too long: 210000 tokens > 200000 maximum",
        },
    }
    status, _, raw = call(
        up, "/v1beta/models/ctx:generateContent", {"contents": [{"parts": [{"text": "x"}]}]}
    )
    err = orjson.loads(raw)["error"]
    assert status == 400 and err["status"] == "INVALID_ARGUMENT" and "(1200000)" in err["message"]


def test_badjson(up: FakeUpstream) -> None:
    status, headers, raw = call(up, "/v1/chat/completions", {"model": "badjson", "messages": USER})
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)


def test_cut_breaks_stream_after_k_chunks(up: FakeUpstream) -> None:
    body = {"model": "chunkdelay-5+cut-3", "messages": USER, "stream": True}
    seen, exc = asyncio.run(_read_until_error(f"{up.url}/v1/chat/completions", body))
    assert seen == 3 and isinstance(exc, aiohttp.ClientPayloadError)
    body = {"model": "cut-2", "max_tokens": 5, "messages": USER, "stream": True}
    seen, exc = asyncio.run(_read_until_error(f"{up.url}/v1/messages", body))
    assert seen == 2 and exc is not None
    with pytest.raises(http.client.IncompleteRead):  # non-stream: half a body
        call(up, "/v1/chat/completions", {"model": "cut-1", "messages": USER})
    log = up.wait_for(lambda log: len(log) == 3 and all(r["finished"] for r in log))
    assert all(r["aborted"] and not r["cancelled"] for r in log)


def test_nousage(up: FakeUpstream) -> None:
    out = call_json(up, "/v1/chat/completions", {"model": "nousage", "messages": USER})
    assert "usage" not in out
    body = {"model": "nousage", "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    chunks = [orjson.loads(d) for _, d in stream(up, "/v1/chat/completions", body)[:-1]]
    assert all("usage" not in c and c["choices"] for c in chunks)
    out = call_json(up, "/v1/messages", {"model": "nousage", "max_tokens": 5, "messages": USER})
    assert "usage" not in out
    out = call_json(up, "/v1beta/models/nousage:generateContent", {"contents": [{"parts": [{"text": "x"}]}]})
    assert "usageMetadata" not in out


def test_slow_slowstream_and_chunkdelay(up: FakeUpstream) -> None:
    t0 = time.monotonic()
    call_json(up, "/v1/chat/completions", {"model": "slow-150", "messages": USER})
    assert time.monotonic() - t0 >= 0.15

    async def arrivals(model: str) -> list[float]:
        body = {"model": model, "messages": USER, "stream": True}
        start, times = time.monotonic(), []
        async with aiohttp.ClientSession() as s, s.post(f"{up.url}/v1/chat/completions", json=body) as resp:
            async for line in resp.content:
                if line.startswith(b"data:"):
                    times.append(time.monotonic() - start)
        return times

    times = asyncio.run(arrivals("slowstream-200"))
    assert times[1] - times[0] >= 0.19 and times[-1] - times[1] < times[1] - times[0]  # one gap, up front
    times = asyncio.run(arrivals("chunkdelay-30"))
    assert len(times) == 7 and times[-1] - times[0] >= 0.17


def test_hang_is_marked_cancelled_when_client_gives_up(up: FakeUpstream) -> None:
    async def give_up() -> None:
        timeout = aiohttp.ClientTimeout(total=0.2)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            with pytest.raises(asyncio.TimeoutError):
                await s.post(f"{up.url}/v1/chat/completions", json={"model": "hang", "messages": USER})

    asyncio.run(give_up())
    [rec] = up.wait_for(lambda log: bool(log) and log[0]["cancelled"], timeout=2)
    assert rec["model"] == "hang" and rec["finished"] and rec["status"] is None


def test_stream_reader_disconnect_is_marked_cancelled(up: FakeUpstream) -> None:
    async def read_one() -> None:
        body = {"model": "chunkdelay-100", "messages": USER, "stream": True}
        async with aiohttp.ClientSession() as s, s.post(f"{up.url}/v1/chat/completions", json=body) as resp:
            await resp.content.readline()  # then leave: the context manager drops the connection

    asyncio.run(read_one())
    up.wait_for(lambda log: bool(log) and log[0]["cancelled"], timeout=2)


# --- control API, runner and CLI --------------------------------------------------------------------


def test_control_api_and_wait_for_timeout(up: FakeUpstream) -> None:
    assert call_json(up, "/health") == {"ok": True}
    status, _, _ = call(up, "/v1/complete", {"model": "x"})
    assert status == 404 and up.requests()[0]["path"] == "/v1/complete"  # wrong paths are logged
    up.reset()
    call_json(up, "/v1/chat/completions", {"model": "x", "messages": USER})
    logged = call_json(up, "/_fake/requests")["requests"]
    assert [r["model"] for r in logged] == ["x"]  # control calls are not logged
    assert call_json(up, "/_fake/reset", {}) == {"ok": True}
    assert up.requests() == []
    assert up.openai_base == up.anthropic_base == f"{up.url}/v1" and up.gemini_base == f"{up.url}/v1beta"
    with pytest.raises(AssertionError, match="not met"):
        up.wait_for(lambda log: len(log) > 0, timeout=0.05)


def test_cli_runs_in_foreground() -> None:
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "tests.fakes.upstream", "--port", "0"]
    with subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("listening on http://127.0.0.1:")
            with _OPENER.open(line.removeprefix("listening on ") + "/health", timeout=5) as resp:
                assert orjson.loads(resp.read()) == {"ok": True}
        finally:
            proc.terminate()
            assert proc.wait(5) == 0
