"""Request reading and error rendering shared by every endpoint.

Request bodies are decoded here, not by aiohttp (its `auto_decompress` is off, app.py). aiohttp
refused a coding it has no decoder for (br, zstd) in its HTTP parser, with a plain-text 400 no
endpoint saw; a corrupt gzip body reached the endpoint as a payload error, a 500; and a coding it does
not know was read as if it were JSON. Here a body may come in gzip (x-gzip), deflate or identity, or
several of them applied in turn (`Content-Encoding: deflate, gzip`); any other coding is a 415 naming
it, with `Accept-Encoding` naming those (RFC 9110 12.5.3), and a body its coding cannot decode is a
400. Brotli and zstd are refused rather than taken: their decoders are compiled packages not installed
here, and the SDKs of both APIs send bodies uncompressed. The limit on a body counts its bytes
decoded, so a small gzip body cannot bring in a huge one."""

from __future__ import annotations

import asyncio
import os
import threading
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import HttpVersion11, hdrs, web

from satisfice.errors import (
    BodyTooLarge,
    GatewayError,
    InvalidRequest,
    RequestTimeout,
    UnsupportedMediaType,
)
from satisfice.keys import key_digest

JSON_TYPE = "application/json"


class _RandomPool:
    """os.urandom read 6 KB at a time, handed out 12 bytes per id: one system call per 512 ids
    instead of one per request (under load each call also handed the GIL to a waiting thread)."""

    _CHUNK = 12 * 512

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = b""
        self._pos = 0
        self._pid = os.getpid()

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._pos + n > len(self._buf) or self._pid != os.getpid():  # a forked child draws afresh
                self._buf, self._pos, self._pid = os.urandom(self._CHUNK), 0, os.getpid()
            out = self._buf[self._pos : self._pos + n]
            self._pos += n
            return out


_IDS = _RandomPool()


def new_request_id() -> str:
    # Unguessable (feedback names a request by it): 96 bits from the operating system's generator.
    return "req_" + _IDS.take(12).hex()


def caller_digest(request: web.Request) -> str:
    """SHA-256 (hex) of the caller's key, "" without one. The key itself goes no further.

    The key is the `Authorization` header's (its "Bearer" token, or the whole value without that
    scheme) or `x-api-key`'s. With both, /v1/messages reads `x-api-key` first, as Anthropic's API
    does; the other endpoints `Authorization`, as OpenAI's. An empty one does not count ("Bearer "
    alone: an SDK given an empty key)."""
    bearer = request.headers.get("authorization", "").strip()
    if bearer[:6].lower() == "bearer" and (len(bearer) == 6 or bearer[6].isspace()):
        bearer = bearer[6:].strip()
    api_key = request.headers.get("x-api-key", "").strip()
    first, second = (api_key, bearer) if request.path.startswith("/v1/messages") else (bearer, api_key)
    key = first or second
    return key_digest(key) if key else ""


def tenant_of(digest: str) -> str:
    """The ledger's, the limits' and the cache's name for a caller: a fingerprint of its key's
    digest, 128 bits long, since it alone keeps one caller's cached answers and counters from
    another's (48 bits could be matched by brute force)."""
    return "key_" + digest[:32] if digest else ""


# How long a request body may take to arrive (server.body_timeout_s): a body that stalls or
# trickles held its connection for good, and a few hundred such clients took every file descriptor.
BODY_TIMEOUT = web.AppKey("body_timeout_s", float)


# orjson writes at most 254 levels of nesting (it reads up to 1024), and every body is written again
# to go upstream, a level or two deeper once translated (/v1/messages tools -> OpenAI -> Gemini). A
# body nested deeper than MAX_JSON_DEPTH is refused as it is read, not with a 500 once sent on.
_ORJSON_DEPTH = 254
MAX_JSON_DEPTH = 250


def _too_deep(raw: bytes, body: Any) -> bool:
    """Whether `body` nests deeper than MAX_JSON_DEPTH. orjson's own check on the body wrapped in
    the headroom's levels: a fifth of the parse's time, where a walk in Python took as long as the
    parse. A body too short to nest that deep is not checked."""
    if len(raw) <= 2 * MAX_JSON_DEPTH:
        return False
    probe = body
    for _ in range(_ORJSON_DEPTH - MAX_JSON_DEPTH):
        probe = [probe]
    try:
        orjson.dumps(probe)
    except orjson.JSONEncodeError:  # what parsed JSON can raise here: the depth
        return True
    return False


def _too_deep_error() -> InvalidRequest:
    return InvalidRequest(
        f"The JSON body of your request is nested more than {MAX_JSON_DEPTH} levels deep, the limit.",
        code="json_too_deep",
    )


# The content codings a request body may come in, each decoded by zlib (wbits: gzip's wrapper or zlib's).
ACCEPTED_CODINGS = "gzip, deflate, identity"
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def body_codings(request: web.BaseRequest) -> list[str]:
    """The codings of a request body, in the order they were applied (identity left out). One that
    cannot be decoded is an UnsupportedMediaType, raised before the body is read."""
    named = (
        c.strip().lower()
        for value in request.headers.getall(hdrs.CONTENT_ENCODING, ())
        for c in value.split(",")
    )
    codings = [c for c in named if c and c != "identity"]
    for coding in codings:
        if coding not in _WBITS:
            raise UnsupportedMediaType(
                f"Content-Encoding {coding[:40]!r} is not supported for request bodies; "
                f"use one of: {ACCEPTED_CODINGS}.",
                headers={"Accept-Encoding": ACCEPTED_CODINGS},
            )
    return codings


def _undecodable(coding: str, why: str) -> InvalidRequest:
    return InvalidRequest(
        f"The request body could not be decoded as its Content-Encoding: {coding} says ({why}).",
        code="invalid_content_encoding",
    )


def _inflate(raw: bytes, coding: str, limit: int) -> bytes:
    """`raw` decoded from `coding`, refused as soon as it passes `limit` bytes (never inflated whole).
    Concatenated gzip members are one body (RFC 1952), and a deflate body without its zlib header
    (raw RFC 1951, which some clients send as `deflate`) is read, as aiohttp read both."""
    wbits = _WBITS[coding]
    if coding == "deflate" and raw and raw[0] & 0xF != 8:  # not a zlib header's compression method
        wbits = -zlib.MAX_WBITS
    out = bytearray()
    try:
        while raw:
            inflater = zlib.decompressobj(wbits)
            out += inflater.decompress(raw, limit + 1 - len(out))
            if len(out) > limit:
                raise BodyTooLarge(
                    f"The request body exceeds the limit of {limit} bytes once decoded "
                    f"(Content-Encoding: {coding})."
                )
            if not inflater.eof:
                raise _undecodable(coding, "it ends before its compressed stream does")
            raw = inflater.unused_data
    except zlib.error as e:
        raise _undecodable(coding, str(e)) from None
    return bytes(out)


def expect_within(limit: int) -> Callable[[web.Request], Awaitable[None]]:
    """aiohttp's `Expect: 100-continue` handling, except that a body declared over `limit`, or in a
    coding that cannot be decoded, gets no `100 Continue`: the endpoint then refuses it (read_json,
    by its headers) with its 413 or 415 before the client sends it."""

    async def expect(request: web.Request) -> None:
        if request.version != HttpVersion11:
            return
        if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {request.headers.get(hdrs.EXPECT)}")
        length = request.content_length
        if length is not None and length > limit:
            return
        try:
            body_codings(request)
        except UnsupportedMediaType:
            return
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # as aiohttp's own handler: the response has not started

    return expect


async def read_json(request: web.Request, limit: int) -> Any:
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge(f"The request body is {length} bytes; the limit is {limit} bytes.")
    codings = body_codings(request)
    timeout = request.app.get(BODY_TIMEOUT, 30.0)
    try:
        async with asyncio.timeout(timeout):
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(f"The request body exceeds the limit of {limit} bytes.") from None
    except TimeoutError:
        raise RequestTimeout(f"The request body did not arrive within {timeout:g} s.") from None
    if len(raw) > limit:
        raise BodyTooLarge(f"The request body exceeds the limit of {limit} bytes.")
    for coding in reversed(codings):  # the last applied is undone first
        raw = _inflate(raw, coding, limit)
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if "depth limit" in str(e):  # orjson reads at most 1024 levels
            raise _too_deep_error() from None
        raise InvalidRequest(
            f"We could not parse the JSON body of your request ({e}). The body must be valid JSON.",
            code="invalid_json",
        ) from None
    if _too_deep(raw, body):
        raise _too_deep_error()
    return body


def json_response(data: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=data, status=status, content_type=JSON_TYPE, headers=headers)


def error_response(err: GatewayError, headers: dict[str, str] | None = None) -> web.Response:
    merged = dict(headers or {})
    merged.update(err.headers)
    return json_response(err.body_bytes(), err.status, merged)


def sse_error_event(err: GatewayError) -> bytes:
    # The OpenAI SDK raises an APIError when a stream event carries an "error" object.
    return b"data: " + err.body_bytes() + b"\n\n"
