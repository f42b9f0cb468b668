"""What one upstream answer may cost the gateway: SSE parsing in linear time with a cap on one event,
a stream that must finish an event within its idle timeout (time waiting for the client aside),
events that must be UTF-8 (and JSON objects when relayed as they came), and a capped body.

End-to-end checks through the real gateway are in tests/test_hostile_upstream.py."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from satisfice.providers.anthropic_stream import AnthropicStreamTranslator
from satisfice.providers.base import Deployment
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.openai_compat import OPENAI
from satisfice.providers.runner import HTTPEventStream, HTTPRunner
from satisfice.providers.sse import SSEParser
from tests.fakes.upstream import FakeUpstream

MSGS = [{"role": "user", "content": "hello there"}]
ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
WORD = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'


# --- the parser ----------------------------------------------------------------------------------------


def test_a_crlf_split_between_two_reads_is_one_line_end() -> None:
    """Gemini ends its events with CRLF pairs; a read that ends between "\\r" and "\\n" no longer
    ends the event early (it joined the next event's fields to this one)."""
    p = SSEParser()
    assert p.feed(b"event: a\r\ndata: x\r") == []
    assert p.feed(b"\ndata: y\r\n") == []
    assert p.feed(b"\r\ndata: z\r\n\r\n") == [("a", b"x\ny"), (None, b"z")]
    assert p.pending == 0


def test_a_line_feed_read_alone_after_a_carriage_return_ends_one_line_only() -> None:
    """A read of just the "\n" of a "\r\n" left the flag set, so the next read's "\n" (the blank
    line ending the event) was dropped too and two events ran together."""
    p = SSEParser()
    assert p.feed(b"data: 1\r") == []
    assert p.feed(b"\n") == []
    assert p.feed(b"\ndata: 2\n\n") == [(None, b"1"), (None, b"2")]


def test_the_parser_counts_complete_blocks_and_what_it_holds() -> None:
    p = SSEParser()
    assert p.feed(b": keep-alive\n\ndata: {") == []
    assert (p.blocks, p.pending) == (1, len(b"data: {"))
    assert p.feed(b"}\n\n\n") == [(None, b"{}")]
    assert (p.blocks, p.pending) == (2, 1)


def test_an_event_over_the_cap_stops_the_parse_after_the_events_before_it() -> None:
    p = SSEParser(max_event_bytes=100)
    assert p.feed(b"data: 1\n\ndata: " + b"x" * 200 + b"\n\ndata: 2\n\n") == [(None, b"1")]
    assert p.too_large
    p = SSEParser(max_event_bytes=100)
    assert p.feed(b"data: 1\n\ndata: " + b"x" * 50) == [(None, b"1")] and not p.too_large
    assert p.feed(b"x" * 50) == [] and p.too_large  # an unfinished one counts too


def test_a_never_ending_event_is_parsed_in_linear_time() -> None:
    """Each read used to copy and search the whole event again: 50 MB took 8 to 38 s of CPU. A
    generous bound (this takes ~0.1 s); docs/performance.md has the measurement."""
    p = SSEParser()
    p.feed(b'data: {"x": "')
    block = b"a" * 65536
    started = time.process_time()
    for _ in range(1024):  # 64 MiB
        assert p.feed(block) == []
    assert time.process_time() - started < 5
    assert p.pending == 64 * 1024 * 1024 + len(b'data: {"x": "')


# --- the stream: idle time, the loop, unreadable events -------------------------------------------------


class _Content:
    """The body of a response as HTTPEventStream reads it: `readany` returns what `reads` gives."""

    def __init__(self, reads: Callable[[], Awaitable[bytes]]) -> None:
        self.readany = reads


class _Response:
    def __init__(self, reads: Callable[[], Awaitable[bytes]]) -> None:
        self.content = _Content(reads)
        self.closed = False

    def release(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _blocks(*blocks: bytes, delay: float = 0.0) -> Callable[[], Awaitable[bytes]]:
    queue = list(blocks)

    async def read() -> bytes:
        if delay:
            await asyncio.sleep(delay)
        return queue.pop(0) if queue else b""

    return read


def _stream(reads: Callable[[], Awaitable[bytes]], **kw: Any) -> tuple[HTTPEventStream, _Response]:
    resp = _Response(reads)
    return HTTPEventStream(resp, None, **kw), resp  # type: ignore[arg-type]


async def _drain(stream: HTTPEventStream) -> list[bytes]:
    return [event async for event in stream]


def test_a_stream_that_trickles_an_event_without_finishing_it_stalls() -> None:
    """Every byte restarted the idle timer (aiohttp's sock_read): one byte every 0.5 s ran for ever."""
    sent = [ROLE, b'data: {"x": "']

    async def read() -> bytes:
        if sent:
            return sent.pop(0)
        await asyncio.sleep(0.02)
        return b"a"

    stream, resp = _stream(read, idle_timeout_s=0.3)

    async def run() -> list[bytes]:
        got: list[bytes] = []
        with pytest.raises(AttemptFailed) as e:
            async for event in stream:
                got.append(event)
        assert e.value.kind is FailureKind.TIMEOUT and e.value.message == "the upstream stream stalled"
        return got

    assert asyncio.run(asyncio.wait_for(run(), 10)) == [ROLE]
    assert resp.closed


def test_time_spent_waiting_for_the_client_is_not_the_upstreams() -> None:
    """Each event comes in two reads, the second 0.1 s after it is asked for; the client takes 0.4 s
    over each event. The upstream never needs more than the 0.25 s idle timeout."""
    halves = [WORD[:20], WORD[20:]] * 3

    async def read() -> bytes:
        if len(halves) % 2:
            await asyncio.sleep(0.1)
        return halves.pop(0) if halves else b""

    stream, _ = _stream(read, idle_timeout_s=0.25)

    async def run() -> int:
        n = 0
        async for _ in stream:
            n += 1
            await asyncio.sleep(0.4)  # the relay waiting for a slow client
        return n

    assert asyncio.run(run()) == 3


def test_reading_a_long_event_lets_the_loop_serve_others() -> None:
    """Reads that return at once without finishing an event (data already buffered) still let the
    loop run other tasks between them."""

    async def read() -> bytes:
        return b"a" * 65536

    stream, _ = _stream(read, max_event_bytes=16 * 1024 * 1024)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def run() -> None:
        task = asyncio.create_task(ticker())
        try:
            with pytest.raises(AttemptFailed) as e:
                await _drain(stream)
        finally:
            task.cancel()
        assert e.value.kind is FailureKind.BAD_RESPONSE
        assert "larger than 16777216 bytes (reliability.max_event_bytes)" in e.value.message

    asyncio.run(run())
    assert ticks > 100  # one per read of the 256 it took


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (b'data: {"choices":[{"index":0,"delta":{"content":"\xff\xfe"}}]}\n\n', "not valid UTF-8"),
        (b"data: this is not JSON\n\n", "not a JSON object"),
        (b"data: [1, 2]\n\n", "not a JSON object"),
    ],
)
def test_an_unreadable_event_fails_the_stream_after_the_events_before_it(bad: bytes, why: str) -> None:
    stream, resp = _stream(_blocks(ROLE, WORD + bad + WORD))

    async def run() -> list[bytes]:
        got: list[bytes] = []
        with pytest.raises(AttemptFailed) as e:
            async for event in stream:
                got.append(event)
        assert e.value.kind is FailureKind.BAD_RESPONSE
        assert e.value.message == f"the upstream sent a stream event that is {why}"
        return got

    assert asyncio.run(run()) == [ROLE, WORD]
    assert resp.closed


def test_a_done_marker_with_spaces_ends_the_stream() -> None:
    stream, _ = _stream(_blocks(ROLE, WORD + b"data: [DONE] \n\n"))

    async def run() -> list[bytes]:
        return [event async for event in stream]

    assert asyncio.run(run()) == [ROLE, WORD]


def test_a_translated_event_that_is_not_utf8_is_a_bad_response() -> None:
    start = b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{}}}\n\n'
    bad = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"\xff"}}\n\n'
    )
    resp = _Response(_blocks(start, bad))
    stream = HTTPEventStream(resp, AnthropicStreamTranslator("claude"))  # type: ignore[arg-type]
    with pytest.raises(AttemptFailed) as e:
        asyncio.run(_drain(stream))
    assert e.value.kind is FailureKind.BAD_RESPONSE and "UTF-8" in e.value.message


# --- the runner over loopback: its limits -----------------------------------------------------------------


def _dep(base_url: str) -> Deployment:
    return Deployment("p", "m", "m", base_url, "openai")


async def _first_event(runner: HTTPRunner, dep: Deployment, model: str) -> bytes:
    await runner.start()
    try:
        body = {"messages": MSGS, "stream": True}
        stream = await runner.stream(OPENAI, replace(dep, upstream_model=model), body, 5.0)
        try:
            return await anext(aiter(stream))
        finally:
            await stream.aclose()
    finally:
        await runner.close()


async def _complete(runner: HTTPRunner, dep: Deployment, model: str) -> None:
    await runner.start()
    try:
        await runner.complete(OPENAI, replace(dep, upstream_model=model), {"messages": MSGS})
    finally:
        await runner.close()


def test_the_runner_fails_an_event_over_its_cap() -> None:
    with FakeUpstream() as up:
        runner = HTTPRunner(max_event_bytes=256 * 1024)
        with pytest.raises(AttemptFailed) as e:
            asyncio.run(_first_event(runner, _dep(up.openai_base), "bigline-0"))
        up.wait_for(lambda rs: all(r["finished"] for r in rs))  # the gateway hung up
    assert e.value.kind is FailureKind.BAD_RESPONSE
    assert e.value.message == (
        "the upstream sent a stream event larger than 262144 bytes (reliability.max_event_bytes)"
    )


def test_the_runner_fails_a_body_over_its_cap() -> None:
    with FakeUpstream() as up:
        dep = _dep(up.openai_base)
        with pytest.raises(AttemptFailed) as e:
            asyncio.run(_complete(HTTPRunner(max_response_bytes=1 << 20), dep, "bigbody-2"))
        asyncio.run(_complete(HTTPRunner(max_response_bytes=3 << 20), dep, "bigbody-2"))  # under it: fine
    assert e.value.kind is FailureKind.BAD_RESPONSE
    assert e.value.message == (
        "the upstream's answer is larger than 1048576 bytes (reliability.max_response_bytes)"
    )


@pytest.mark.parametrize("stream", [False, True])
def test_a_gzip_bomb_is_read_no_further_than_the_cap(stream: bool) -> None:
    """A quarter megabyte that inflates to 256 MiB: resp.read() held all of it (2.4 GB of RSS for a
    2 GB bomb). Now reading stops at the cap, and aiohttp inflates only what is read."""
    with FakeUpstream() as up:
        runner = HTTPRunner(max_response_bytes=1 << 20, max_event_bytes=1 << 20)
        call = _first_event if stream else _complete
        tracemalloc.start()
        try:
            with pytest.raises(AttemptFailed) as e:
                asyncio.run(call(runner, _dep(up.openai_base), "gzipbomb"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert e.value.kind is FailureKind.BAD_RESPONSE
    assert peak < 64 * 1024 * 1024


def test_an_error_body_is_read_no_further_than_its_message_needs() -> None:
    """A 500 with a 32 MiB body (sent a megabyte at a time): only its first ERROR_BODY_BYTES are
    read, enough for the message."""

    async def huge_error(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=500, headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        piece = b"x" * (1 << 20)
        try:
            for _ in range(32):
                await resp.write(piece)
            await resp.write_eof()
        except ConnectionResetError:
            pass
        return resp

    async def run() -> AttemptFailed:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", huge_error)
        server = web.AppRunner(app)
        await server.setup()
        await web.TCPSite(server, "127.0.0.1", 0).start()
        port = server.addresses[0][1]
        try:
            with pytest.raises(AttemptFailed) as e:
                await _complete(HTTPRunner(), _dep(f"http://127.0.0.1:{port}/v1"), "m")
            return e.value
        finally:
            await server.cleanup()

    tracemalloc.start()
    try:
        failure = asyncio.run(run())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert failure.kind is FailureKind.SERVER_ERROR and failure.status == 500
    assert failure.message.startswith("xxx")
    assert peak < 16 * 1024 * 1024
