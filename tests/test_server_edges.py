"""The HTTP server's edges through the real gateway process: a stop with streams in flight, a cache
write that meets a lock, over-deep JSON bodies, `Expect: 100-continue` with a body over the limit, and
compressed request bodies."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from satisfice.server.http import MAX_JSON_DEPTH
from tests.cache.test_cache_e2e import cache_config
from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("gw-edges")
    with GatewayProcess(tmp, standard_config(upstream), env={"FAKE_OPENAI_KEY": "k"}) as g:
        yield g


def post(
    gw: GatewayProcess, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": "application/json", **(headers or {})}
    req = urllib.request.Request(gw.url + path, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# -- a stop with streams in flight -----------------------------------------------------------------


def test_streams_still_running_at_a_stop_end_with_an_error_event_and_a_server_side_row(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """SIGTERM: streams were cut ~10 s later mid-body (a broken chunked body, no error event) and
    recorded as 499 client_closed. Now, after the grace period (5 s), each ends with an error event
    in its client's format and a 503 row; a plain request in flight still finishes."""
    config = standard_config(upstream)
    config["reliability"] = {
        **config["reliability"],
        "timeout_s": 10,
        "deadline_s": 30,
        "stream_idle_timeout_s": 10,
    }
    words = " ".join(f"w{i}" for i in range(80))  # echoed one word per event, 300 ms apart: ~24 s
    slow = f"openai/chunkdelay-300+stop{uuid.uuid4().hex[:6]}"
    requests: list[tuple[str, dict[str, Any]]] = [
        (
            "/v1/chat/completions",
            {"model": slow, "stream": True, "messages": [{"role": "user", "content": words}]},
        ),
        (
            "/v1/messages",
            {
                "model": slow,
                "stream": True,
                "max_tokens": 500,
                "messages": [{"role": "user", "content": words}],
            },
        ),
        (
            "/v1/chat/completions",
            {"model": "openai/slow-2000", "messages": [{"role": "user", "content": "x"}]},
        ),
    ]
    started = [threading.Event() for _ in requests]
    gateway = GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"})

    def call(i: int) -> tuple[str, bytes, float]:
        path, body = requests[i]
        req = urllib.request.Request(
            gateway.url + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            started[i].set()
            return r.headers["x-satisfice-request-id"], r.read(), time.monotonic()  # a cut body raises

    with gateway as gw, ThreadPoolExecutor(3) as pool:
        assert gw.proc is not None
        streams: list[Future[tuple[str, bytes, float]]] = [pool.submit(call, i) for i in (0, 1)]
        assert all(e.wait(10) for e in started[:2])  # both streams are under way
        plain = pool.submit(call, 2)
        time.sleep(0.5)
        gw.proc.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        (chat_id, chat, chat_end), (msg_id, msg, msg_end) = (f.result(timeout=30) for f in streams)
        plain_id, plain_body, _ = plain.result(timeout=30)
        assert gw.proc.wait(timeout=30) == 0
    assert 4 < chat_end - stopped < 8 and 4 < msg_end - stopped < 8  # the grace period, not aiohttp's 10 s
    last = json.loads(chat.splitlines()[-2][6:])  # the last event, before its blank line
    assert last["error"]["code"] == "server_shutting_down" and b"[DONE]" not in chat
    assert b"event: error" in msg and b'"type":"api_error"' in msg and b"message_stop" not in msg
    assert json.loads(plain_body)["choices"][0]["message"]["content"] == "echo: x"
    rows = {r["id"]: r for r in gw.rows()}
    for rid in (chat_id, msg_id):
        assert (rows[rid]["status"], rows[rid]["outcome"]) == (503, "stream_error"), rows[rid]
        assert "shutting down" in rows[rid]["error"]
    assert (rows[plain_id]["status"], rows[plain_id]["outcome"]) == (200, "ok")
    # aiohttp's own wait outlasts the grace and the error events' writes: it cancelled them mid-write
    assert "Unhandled exception" not in gw.output and "Traceback" not in gw.output


# -- a cache write that meets a lock ---------------------------------------------------------------


def test_a_locked_cache_file_does_not_delay_a_plain_answer(upstream: FakeUpstream, tmp_path: Path) -> None:
    """The answer waited for the cache write, which waited 0.5 s for another process's lock."""
    config = cache_config(upstream, tmp_path, backend="sqlite")
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}) as gw:

        def ask(text: str) -> tuple[float, str]:
            body = {"model": "always", "messages": [{"role": "user", "content": text}]}
            started = time.monotonic()
            status, headers, _ = post(gw, "/v1/chat/completions", json.dumps(body).encode())
            assert status == 200
            return time.monotonic() - started, headers["x-satisfice-cache"]

        kept = f"kept {uuid.uuid4().hex}"
        assert ask(kept)[1] == "miss"
        deadline = time.monotonic() + 5
        while ask(kept)[1] != "hit-exact":  # stored after the answer went out
            assert time.monotonic() < deadline, "the answer was never stored"
            time.sleep(0.1)
        lock = sqlite3.connect(tmp_path / "cache.db", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            elapsed, cache = ask(f"locked {uuid.uuid4().hex}")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert cache == "miss" and elapsed < 0.4, f"{elapsed:.2f} s"


# -- over-deep JSON bodies -------------------------------------------------------------------------


def chat_body(model: str = "gpt-4o-mini", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}


def nested(depth: int) -> bytes:
    """JSON lists nested `depth` levels deep."""
    return b"[" * depth + b"]" * depth


def with_metadata(body: dict[str, Any], value: bytes) -> bytes:
    """`body` with its metadata (the body's second level) set to the raw JSON `value`."""
    return json.dumps({**body, "metadata": "@"}).encode().replace(b'"@"', value)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 600, 5000])
def test_a_body_nested_deeper_than_the_limit_is_a_400_naming_it(gw: GatewayProcess, depth: int) -> None:
    """Nested 255-1024 levels deep, a body parsed, then failed with a 500 when sent on (orjson writes
    at most 254 levels); deeper, it was a 400 that did not say why."""
    status, headers, raw = post(gw, "/v1/chat/completions", with_metadata(chat_body(), nested(depth - 1)))
    if depth <= MAX_JSON_DEPTH:  # the body itself is one level: its metadata is at the second
        assert status == 200, raw
        return
    error = json.loads(raw)["error"]
    assert status == 400 and (error["type"], error["code"]) == ("invalid_request_error", "json_too_deep")
    assert f"more than {MAX_JSON_DEPTH} levels" in error["message"]
    assert gw.row(headers["x-satisfice-request-id"])["status"] == 400


def test_a_tool_schema_nested_too_deep_is_a_400_on_both_apis(gw: GatewayProcess) -> None:
    schema = (
        b'{"type": "object", "properties": {"x": ' + b'{"type": "array", "items": ' * 300 + b"{}" + b"}" * 302
    )
    tool = b'{"type": "function", "function": {"name": "f", "parameters": ' + schema + b"}}"
    body = json.dumps(chat_body(tools="@")).encode().replace(b'"@"', b"[" + tool + b"]")
    status, _, raw = post(gw, "/v1/chat/completions", body)
    assert status == 400 and json.loads(raw)["error"]["code"] == "json_too_deep"
    tool = b'{"name": "f", "input_schema": ' + schema + b"}"
    body = (
        json.dumps({**chat_body(), "max_tokens": 10, "tools": "@"})
        .encode()
        .replace(b'"@"', b"[" + tool + b"]")
    )
    status, _, raw = post(gw, "/v1/messages", body)
    error = json.loads(raw)["error"]
    assert (
        status == 400 and error["type"] == "invalid_request_error" and str(MAX_JSON_DEPTH) in error["message"]
    )


# -- Expect: 100-continue --------------------------------------------------------------------------


def read_response(s: socket.socket) -> bytes:
    """One response (a `100 Continue` included) as it arrives within the socket's timeout; b"" for none."""
    got = b""
    while True:
        head, sep, rest = got.partition(b"\r\n\r\n")
        if sep:
            lengths = [
                line.split(b":")[1]
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            ]
            if len(rest) >= (int(lengths[0]) if lengths else 0):
                return got
        try:
            data = s.recv(65536)
        except TimeoutError:
            return got
        if not data:
            return got
        got += data


def exchange(gw: GatewayProcess, head: bytes, body: bytes = b"") -> tuple[bytes, bytes]:
    """What the server says to `head` before any body is sent (waiting up to 3 s), then to `body`."""
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.settimeout(3)
        s.sendall(head)
        first = read_response(s)
        if not body:
            return first, b""
        s.sendall(body)
        return first, read_response(s)


def expect_head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Expect: 100-continue\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_expect_continue_with_a_body_over_the_limit_gets_a_413_before_sending_it(
    gw: GatewayProcess, path: str
) -> None:
    """It got `100 Continue`, so the client uploaded before being refused."""
    first, _ = exchange(gw, expect_head(path, 999_999_999))
    assert first.startswith(b"HTTP/1.1 413 "), first[:200]
    error = json.loads(first.split(b"\r\n\r\n", 1)[1])["error"]
    expected = "request_too_large" if path == "/v1/messages" else "invalid_request_error"
    assert error["type"] == expected and "999999999 bytes" in error["message"]
    rid = next(
        line.split(b": ")[1] for line in first.split(b"\r\n") if line.startswith(b"x-satisfice-request-id")
    )
    assert gw.row(rid.decode())["status"] == 413


def test_expect_continue_with_a_body_in_an_unsupported_encoding_gets_a_415_before_sending_it(
    gw: GatewayProcess,
) -> None:
    head = expect_head("/v1/chat/completions", 5000).replace(
        b"\r\n\r\n", b"\r\nContent-Encoding: zstd\r\n\r\n"
    )
    first, _ = exchange(gw, head)
    assert first.startswith(b"HTTP/1.1 415 "), first[:200]
    assert json.loads(first.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "unsupported_media_type"


def test_expect_continue_within_the_limit_still_continues(gw: GatewayProcess) -> None:
    body = json.dumps(chat_body()).encode()
    first, rest = exchange(gw, expect_head("/v1/chat/completions", len(body)), body)
    assert first == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert rest.startswith(b"HTTP/1.1 200 ") and b"echo: hello" in rest


# -- compressed request bodies ---------------------------------------------------------------------

BODIES = {
    "/v1/chat/completions": json.dumps(chat_body()).encode(),
    "/v1/messages": json.dumps({**chat_body(), "max_tokens": 20}).encode(),
}


def gzipped(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def raw_deflated(data: bytes) -> bytes:
    """Deflate without the zlib wrapper: what some clients send as `deflate` (RFC 1951, not 1950)."""
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


def answer_text(path: str, raw: bytes) -> str:
    body = json.loads(raw)
    text: str = (
        body["content"][0]["text"] if path == "/v1/messages" else body["choices"][0]["message"]["content"]
    )
    return text


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzipped),
        ("x-gzip", gzipped),
        ("deflate", zlib.compress),
        ("deflate", raw_deflated),
        ("identity", lambda data: data),
        ("gzip, gzip", lambda data: gzipped(gzipped(data))),
        ("identity, deflate, gzip", lambda data: gzipped(zlib.compress(data))),
    ],
)
def test_a_gzip_or_deflate_body_is_read(gw: GatewayProcess, path: str, coding: str, encode: Any) -> None:
    status, _, raw = post(gw, path, encode(BODIES[path]), {"content-encoding": coding})
    assert status == 200 and answer_text(path, raw) == "echo: hello", raw


def error_of(path: str, status: int, headers: dict[str, str], raw: bytes) -> tuple[str, str, str | None]:
    """(type, message, code) of an error in the format of `path`'s API (Anthropic's has no code)."""
    assert headers["Content-Type"].startswith("application/json"), (status, raw)
    body = json.loads(raw)
    if path == "/v1/messages":
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}
        return body["error"]["type"], body["error"]["message"], None
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]["type"], body["error"]["message"], body["error"]["code"]


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br"])
def test_a_body_in_an_encoding_not_supported_is_a_415_naming_it(
    gw: GatewayProcess, path: str, coding: str
) -> None:
    """br and zstd got aiohttp's plain-text 400 ("Can not decode content-encoding"), before any
    endpoint saw the request; a coding aiohttp does not know was read as if it were JSON."""
    status, headers, raw = post(
        gw, path, b"\x28\xb5\x2f\xfd not really compressed", {"content-encoding": coding}
    )
    kind, message, code = error_of(path, status, headers, raw)
    assert status == 415 and kind == "invalid_request_error" and code in (None, "unsupported_media_type")
    unsupported = coding.split(", ")[-1]
    assert f"'{unsupported}'" in message and "gzip, deflate, identity" in message, message
    assert headers["Accept-Encoding"] == "gzip, deflate, identity"  # RFC 9110 12.5.3: what requests may use
    assert gw.row(headers["x-satisfice-request-id"])["status"] == 415


@pytest.mark.parametrize("path", list(BODIES))
@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", b"not gzip at all"),
        ("gzip", gzipped(BODIES["/v1/messages"])[:-12]),  # cut short: no end of stream
        ("deflate", b"\x78\x9c garbage"),
    ],
    ids=["gzip-garbage", "gzip-cut", "deflate-garbage"],
)
def test_a_corrupt_compressed_body_is_a_400_naming_its_encoding(
    gw: GatewayProcess, path: str, coding: str, body: bytes
) -> None:
    """A corrupt gzip or deflate body was a 500 (aiohttp's payload error reached the endpoint as if
    a bug of ours), and one cut short was read, then refused as JSON that was not."""
    status, headers, raw = post(gw, path, body, {"content-encoding": coding})
    kind, message, code = error_of(path, status, headers, raw)
    assert status == 400 and kind == "invalid_request_error" and code in (None, "invalid_content_encoding")
    assert f"Content-Encoding: {coding}" in message, message
    assert gw.row(headers["x-satisfice-request-id"])["status"] == 400


def test_a_compressed_body_that_inflates_past_the_limit_is_a_413(strict_gateway: GatewayProcess) -> None:
    """Counted inflated, as aiohttp counted it: a small gzip body cannot bring in a large one."""
    bomb = gzipped(b'{"model": "gpt-4o-mini", "metadata": "' + b"a" * 300_000 + b'"}')
    assert len(bomb) < 1_000
    status, headers, raw = post(strict_gateway, "/v1/chat/completions", bomb, {"content-encoding": "gzip"})
    kind, message, code = error_of("/v1/chat/completions", status, headers, raw)
    assert (status, kind, code) == (413, "invalid_request_error", "request_too_large")
    assert "200000 bytes once decoded" in message, message
