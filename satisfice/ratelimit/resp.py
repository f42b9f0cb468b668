"""A small pipelined Redis client for the request path: one connection, commands written as they
come, replies matched in order, parsed by hiredis.

Why not redis-py: its asyncio client took 0.1 to 0.2 ms of CPU per command here (a pool checkout,
a lock, a task per timeout), which would have been most of a request's routed cost. This client
writes a command and awaits one future; many requests in flight share the connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections import deque
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis

ReplyError = hiredis.ReplyError


class RedisUnavailable(ConnectionError):
    pass


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader()
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio subclass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError:  # not Redis, or a corrupt stream: drop the connection
                if self.transport is not None:
                    self.transport.close()  # connection_lost fails what is waiting
                return
            if reply is False:
                return
            fut = self.waiting.popleft()
            if fut.done():  # its caller gave up (timeout): the reply is dropped, order is kept
                continue
            if isinstance(reply, hiredis.ReplyError):
                fut.set_exception(reply)
            else:
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_exception(RedisUnavailable(f"connection to Redis lost ({exc or 'closed'})"))


async def _reply_by(fut: asyncio.Future[Any], deadline: float) -> Any:
    """`fut`'s result, or TimeoutError when it has none by `deadline`. Not asyncio.timeout: after
    the event loop was held up (by another request's work), a reply that came in meanwhile is read
    before the timers run, but the waiting task is woken after them, so asyncio.timeout cancelled it
    and a Redis that had answered in a millisecond counted as down (the limits then went unenforced
    for a second). Here the timer only wakes the task, which then takes the reply if there is one."""
    if not fut.done():
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not woken.done():
                woken.set_result(None)

        timer = loop.call_at(deadline, wake)
        fut.add_done_callback(wake)
        try:
            await woken
        finally:
            timer.cancel()
            fut.remove_done_callback(wake)
    if not fut.done():
        fut.cancel()  # the reply, if it ever comes, is dropped in order (data_received)
        raise TimeoutError
    return fut.result()


class RedisClient:
    """redis://[user:password@]host[:port][/db], rediss://… (TLS) or unix:///path?db=N."""

    RETRY_AFTER_S = 1.0  # after a failed connect, fail at once for this long instead of reconnecting

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.path = unquote(parts.path)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        query = parse_qs(parts.query)
        if self.scheme == "unix":
            self.db = int(query.get("db", ["0"])[0])
        else:
            self.db = int(self.path.strip("/") or 0)
        self._proto: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self._down_until = 0.0
        self._shas: dict[str, str] = {}

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        proto = _Protocol()
        if self.scheme == "unix":
            await loop.create_unix_connection(lambda: proto, self.path)
        else:
            context = ssl.create_default_context() if self.scheme == "rediss" else None
            await loop.create_connection(lambda: proto, self.host, self.port, ssl=context)
        self._proto = proto
        if self.password is not None:
            auth = (self.username, self.password) if self.username else (self.password,)
            await self._send(proto, ("AUTH", *auth))
        if self.db:
            await self._send(proto, ("SELECT", self.db))
        return proto

    async def _connection(self) -> _Protocol:
        proto = self._proto
        if proto is not None and not proto.lost:
            return proto
        if self._connecting is not None:  # one connect at a time; everyone else waits for it
            return await asyncio.shield(self._connecting)
        if time.monotonic() < self._down_until:
            raise RedisUnavailable("Redis was unreachable a moment ago; not retrying yet")
        self._connecting = asyncio.ensure_future(self._connect())
        try:
            return await asyncio.shield(self._connecting)
        except OSError as e:
            self._down_until = time.monotonic() + self.RETRY_AFTER_S
            raise RedisUnavailable(f"cannot connect to Redis at {self.host}:{self.port} ({e})") from None
        finally:
            self._connecting = None

    @staticmethod
    def _send(proto: _Protocol, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        assert proto.transport is not None
        proto.waiting.append(fut)
        proto.transport.write(hiredis.pack_command(args))
        return fut

    async def call(self, *args: Any, deadline: float | None = None) -> Any:
        """The reply; with a deadline (the loop's clock), TimeoutError once it passes unanswered."""
        if deadline is None:
            return await self._send(await self._connection(), args)
        async with asyncio.timeout_at(deadline):
            proto = await self._connection()
        return await _reply_by(self._send(proto, args), deadline)

    async def run_script(
        self, source: str, keys: list[str], args: list[Any], deadline: float | None = None
    ) -> Any:
        """EVALSHA, falling back to EVAL (which loads the script) when Redis does not know it yet."""
        sha = self._shas.get(source)
        if sha is None:
            sha = self._shas[source] = hashlib.sha1(source.encode()).hexdigest()
        try:
            return await self.call("EVALSHA", sha, len(keys), *keys, *args, deadline=deadline)
        except ReplyError as e:
            if not str(e).startswith("NOSCRIPT"):
                raise
            return await self.call("EVAL", source, len(keys), *keys, *args, deadline=deadline)

    async def close(self) -> None:
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.transport.close()
