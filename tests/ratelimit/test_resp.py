"""The small pipelined Redis client, against real redis-server processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from satisfice.ratelimit.resp import RedisClient, RedisUnavailable, ReplyError
from tests.redis_server import RedisServer


def test_commands_databases_and_pipelining(redis_server: RedisServer) -> None:
    async def work() -> tuple[list[object], object, object]:
        db3 = RedisClient(redis_server.url.rsplit("/", 1)[0] + "/3")
        db0 = RedisClient(redis_server.url)
        try:
            await db3.call("SET", "resp-test", "in three")
            # many commands in flight on one connection come back to their own callers
            replies = await asyncio.gather(*(db3.call("ECHO", str(i)) for i in range(200)))
            return replies, await db3.call("GET", "resp-test"), await db0.call("GET", "resp-test")
        finally:
            await db3.close()
            await db0.close()

    replies, in_three, in_zero = asyncio.run(work())
    assert replies == [str(i).encode() for i in range(200)]
    assert in_three == b"in three" and in_zero is None


def test_password_from_the_url(tmp_path: Path) -> None:
    with RedisServer(tmp_path, "--requirepass", "s3cret") as server:

        async def work() -> tuple[object, str]:
            good = RedisClient(f"redis://:s3cret@127.0.0.1:{server.port}/0")
            bad = RedisClient(server.url)
            try:
                pong = await good.call("PING")
                with pytest.raises(ReplyError) as refused:
                    await bad.call("PING")
                return pong, str(refused.value)
            finally:
                await good.close()
                await bad.close()

        pong, refusal = asyncio.run(work())
    assert pong == b"PONG" and refusal.startswith("NOAUTH")


def test_scripts_load_themselves_again_after_a_flush(redis_server: RedisServer) -> None:
    source = "return tonumber(ARGV[1]) + 1"

    async def work() -> list[object]:
        client = RedisClient(redis_server.url)
        try:
            first = await client.run_script(source, [], [1])
            await client.call("SCRIPT", "FLUSH")  # as after a Redis restart: EVALSHA says NOSCRIPT
            second = await client.run_script(source, [], [2])
            return [first, second]
        finally:
            await client.close()

    assert asyncio.run(work()) == [2, 3]


def test_a_timed_out_call_does_not_shift_later_replies(redis_server: RedisServer) -> None:
    async def work() -> object:
        client = RedisClient(redis_server.url)
        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await client.call("BLPOP", "resp-empty-list", 0.3)  # blocks the connection 0.3 s
            return await client.call("PING")  # gets its own reply, not BLPOP's late nil
        finally:
            await client.close()

    assert asyncio.run(work()) == b"PONG"


def test_a_lost_server_fails_fast_then_reconnects(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    client = RedisClient(server.url)
    client.RETRY_AFTER_S = 0.2

    async def call() -> object:
        return await client.call("PING")

    async def work() -> list[str]:
        seen = []
        with server:
            seen.append(str(await call()))
        with pytest.raises(RedisUnavailable):  # the connection is gone
            await call()
        with pytest.raises(RedisUnavailable):  # nothing listens: refused, then not retried for a while
            await call()
        with RedisServer(tmp_path, port=server.port):
            await asyncio.sleep(0.25)
            seen.append(str(await call()))
        await client.close()
        return seen

    assert asyncio.run(work()) == ["b'PONG'", "b'PONG'"]


def test_a_server_that_does_not_speak_redis_fails_the_call() -> None:
    async def work() -> str:
        async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")  # not a Redis reply
            await writer.drain()
            await reader.read()

        server = await asyncio.start_server(garbage, "127.0.0.1", 0)
        client = RedisClient(f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0")
        try:
            async with asyncio.timeout(5):
                with pytest.raises(RedisUnavailable) as failed:
                    await client.call("PING")
            return str(failed.value)
        finally:
            await client.close()
            server.close()

    assert "connection to Redis lost" in asyncio.run(work())
