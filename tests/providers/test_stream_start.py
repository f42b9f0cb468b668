"""Reading a stream up to its first token: what counts as preamble, how start errors are classed,
and that the held events are replayed in order and the stream is closed on failure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from satisfice.errors import UpstreamFailed
from satisfice.providers.anthropic_stream import AnthropicStreamTranslator
from satisfice.providers.base import Deployment
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.gemini_stream import GeminiStreamTranslator
from satisfice.providers.runner import HTTPEventStream
from satisfice.providers.stream_start import (
    MAX_PREAMBLE_EVENTS,
    failure_of,
    in_band_error,
    is_preamble,
    open_first,
)
from satisfice.usage import Usage


def ev(chunk: object) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def delta(d: dict[str, object], finish: str | None = None) -> bytes:
    return ev(
        {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}
    )


ROLE = delta({"role": "assistant", "content": ""})


@pytest.mark.parametrize(
    ("event", "preamble"),
    [
        (ROLE, True),
        (delta({"role": "assistant", "content": None, "refusal": None}), True),
        (ev({"choices": [], "usage": None}), True),
        (delta({"content": "Hi"}), False),
        (delta({"reasoning_content": "Let me think"}), False),  # thinking is progress the client sees
        (delta({"role": "assistant", "tool_calls": [{"index": 0, "id": "c"}]}), False),
        (delta({}, finish="stop"), False),
        (ev({"choices": [], "usage": {"prompt_tokens": 1}}), False),
        (ev({"error": {"message": "boom"}}), False),
        (b"data: not json\n\n", False),
    ],
)
def test_is_preamble(event: bytes, preamble: bool) -> None:
    assert is_preamble(event) is preamble


def test_in_band_error_reads_the_message_and_type() -> None:
    assert in_band_error(ev({"error": {"message": "busy", "type": "server_error"}})) == (
        "busy",
        "server_error",
    )
    assert in_band_error(ev({"error": {"message": "slow", "code": 429}})) == ("slow", "429")
    assert in_band_error(ev({"error": "plain"})) == ("plain", None)
    assert in_band_error(delta({"content": "an error in the answer's text"})) is None
    assert in_band_error(ev({"error": None, "choices": [{"index": 0}]})) is None


@pytest.mark.parametrize(
    ("kind", "failure", "status"),
    [
        ("overloaded_error", FailureKind.SERVER_ERROR, 529),
        (None, FailureKind.SERVER_ERROR, None),
        ("api_error", FailureKind.SERVER_ERROR, None),
        ("rate_limit_error", FailureKind.RATE_LIMITED, 429),
        ("429", FailureKind.RATE_LIMITED, 429),
        ("503", FailureKind.SERVER_ERROR, 503),
        ("invalid_request_error", FailureKind.CLIENT_ERROR, 400),
    ],
)
def test_failure_of_classes_start_errors(kind: str | None, failure: FailureKind, status: int | None) -> None:
    failed = failure_of("why", kind)
    assert (failed.kind, failed.status) == (failure, status)
    assert "why" in failed.message


class ListStream:
    """An EventStream over a list; an exception in the list is raised when reached."""

    def __init__(self, items: list[bytes | BaseException]) -> None:
        self.items = items
        self.closed = False
        self.usage: Usage | None = None
        self.cost_usd: float | None = None
        self.events: list[bytes] = []
        self.more = False
        self._it = self._gen()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._it

    async def _gen(self) -> AsyncIterator[bytes]:
        for item in self.items:
            await asyncio.sleep(0)
            if isinstance(item, BaseException):
                raise item
            self.events.append(item)
            yield item

    async def aclose(self) -> None:
        self.closed = True


async def _drain(items: list[bytes | BaseException]) -> tuple[bytes, list[bytes], ListStream]:
    inner = ListStream(items)
    stream, first = await open_first(inner)
    return first, [e async for e in stream], inner


def test_a_preamble_is_held_and_replayed_in_order() -> None:
    word, stop = delta({"content": "Hi"}), delta({}, finish="stop")
    first, rest, inner = asyncio.run(_drain([ROLE, ROLE, word, stop]))
    assert (first, rest) == (ROLE, [ROLE, word, stop])
    assert not inner.closed


def test_a_first_token_is_returned_as_it_is() -> None:
    word = delta({"content": "Hi"})
    first, rest, _ = asyncio.run(_drain([word]))
    assert (first, rest) == (word, [])


def test_an_endless_preamble_is_relayed_after_the_cap() -> None:
    items: list[bytes | BaseException] = [ROLE] * (MAX_PREAMBLE_EVENTS + 5)
    first, rest, _ = asyncio.run(_drain(items))
    assert [first, *rest] == items


@pytest.mark.parametrize(
    ("items", "kind"),
    [
        ([ROLE, ev({"error": {"message": "busy", "type": "overloaded_error"}})], FailureKind.SERVER_ERROR),
        ([ROLE, UpstreamFailed("Overloaded", code="rate_limit_error")], FailureKind.RATE_LIMITED),
        ([], FailureKind.BAD_RESPONSE),
    ],
)
def test_a_failure_before_the_first_token_closes_the_stream(
    items: list[bytes | BaseException], kind: FailureKind
) -> None:
    inner = ListStream(items)
    with pytest.raises(AttemptFailed) as e:
        asyncio.run(open_first(inner))
    assert e.value.kind is kind
    assert inner.closed


def test_a_stream_that_ends_after_its_preamble_fails() -> None:
    """Nothing of an answer, not even a finish: an attempt's failure, so the next candidate answers
    (the client would otherwise get an empty 200)."""
    inner = ListStream([ROLE])
    with pytest.raises(AttemptFailed, match="ended before its first token") as e:
        asyncio.run(open_first(inner))
    assert e.value.kind is FailureKind.BAD_RESPONSE and inner.closed


class _Content:
    def __init__(self, blocks: list[bytes]) -> None:
        self.blocks = list(blocks)

    async def readany(self) -> bytes:
        return self.blocks.pop(0) if self.blocks else b""


class _Response:
    """What HTTPEventStream reads of an aiohttp response: the body's blocks, release and close."""

    def __init__(self, blocks: list[bytes]) -> None:
        self.content = _Content(blocks)
        self.closed = False

    def release(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_events_read_together_with_an_error_event_go_out_before_it() -> None:
    """Anthropic's first word and its overloaded_error in one read: the word is a token (the stream
    started), and the error follows it, keeping its type."""
    start = b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{}}}\n\n'
    word = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    )
    error = b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'
    resp = _Response([start, word + error])
    stream = HTTPEventStream(resp, AnthropicStreamTranslator("claude"))  # type: ignore[arg-type]

    async def run() -> tuple[bytes, list[bytes]]:
        opened, first = await open_first(stream)
        got: list[bytes] = []
        with pytest.raises(UpstreamFailed) as e:
            async for event in opened:
                got.append(event)
        assert e.value.code == "overloaded_error"
        return first, got

    first, rest = asyncio.run(run())
    assert b'"role":"assistant"' in first
    assert len(rest) == 1 and b'"content":"Hi"' in rest[0]
    assert resp.closed  # the failed stream's connection is not reused


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        (
            {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"},
            FailureKind.SERVER_ERROR,
            529,
        ),
        ({"code": 429, "message": "Quota.", "status": "RESOURCE_EXHAUSTED"}, FailureKind.RATE_LIMITED, 429),
        ({"code": 500, "message": "Internal.", "status": "INTERNAL"}, FailureKind.SERVER_ERROR, None),
    ],
)
def test_gemini_errors_at_the_start_are_classed_like_anthropics(
    error: dict[str, object], kind: FailureKind, status: int | None
) -> None:
    """Gemini's in-band overload fails over as Anthropic's overloaded_error does (a 529, which
    /v1/messages answers as overloaded_error), its RESOURCE_EXHAUSTED as a rate limit."""
    dep = Deployment("google", "gemini-flash", "gemini-2.5-flash", "https://example.test/v1beta", "gemini")
    resp = _Response([b"data: " + orjson.dumps({"error": error}) + b"\r\n\r\n"])
    stream = HTTPEventStream(resp, GeminiStreamTranslator(dep))  # type: ignore[arg-type]
    with pytest.raises(AttemptFailed) as e:
        asyncio.run(open_first(stream))
    assert (e.value.kind, e.value.status) == (kind, status)
    assert str(error["message"]) in e.value.message and resp.closed
