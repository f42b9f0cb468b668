"""Request reading and error rendering shared by every endpoint."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import orjson
from aiohttp import web

from satisfice.errors import BodyTooLarge, GatewayError, InvalidRequest, RequestTimeout
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
    """SHA-256 (hex) of the caller's key, "" without one. The key itself goes no further."""
    auth = request.headers.get("authorization") or request.headers.get("x-api-key") or ""
    if auth.lower().startswith("bearer "):
        auth = auth[7:]
    auth = auth.strip()
    return key_digest(auth) if auth else ""


def tenant_of(digest: str) -> str:
    """The ledger's, the limits' and the cache's name for a caller: a fingerprint of its key's
    digest, 128 bits long, since it alone keeps one caller's cached answers and counters from
    another's (48 bits could be matched by brute force)."""
    return "key_" + digest[:32] if digest else ""


# How long a request body may take to arrive (server.body_timeout_s): a body that stalls or
# trickles held its connection for good, and a few hundred such clients took every file descriptor.
BODY_TIMEOUT = web.AppKey("body_timeout_s", float)


async def read_json(request: web.Request, limit: int) -> Any:
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge(f"The request body is {length} bytes; the limit is {limit} bytes.")
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
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidRequest(
            f"We could not parse the JSON body of your request ({e}). The body must be valid JSON.",
            code="invalid_json",
        ) from None


def json_response(data: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=data, status=status, content_type=JSON_TYPE, headers=headers)


def error_response(err: GatewayError, headers: dict[str, str] | None = None) -> web.Response:
    merged = dict(headers or {})
    merged.update(err.headers)
    return json_response(err.body_bytes(), err.status, merged)


def sse_error_event(err: GatewayError) -> bytes:
    # The OpenAI SDK raises an APIError when a stream event carries an "error" object.
    return b"data: " + err.body_bytes() + b"\n\n"


def openai_error_dict(err: GatewayError) -> dict[str, Any]:
    return err.body()
