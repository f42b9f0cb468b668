"""The limiter: which rules apply, what a refusal says, OpenAI's headers, and a store that is down."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from satisfice.config import ConfigError, parse_settings
from satisfice.errors import RateLimited, ServiceUnavailable
from satisfice.ratelimit import Admission, RateLimiter, build_limiter
from satisfice.ratelimit.limiter import format_duration
from satisfice.ratelimit.settings import RateLimitSettings
from satisfice.ratelimit.store import MemoryLimitStore
from tests.gateway_proc import free_port
from tests.redis_server import RedisServer


def limiter(rules: list[dict[str, Any]], **top: Any) -> RateLimiter:
    """A limiter from config; a memory store gets a clock that stands still, so figures are exact."""
    settings = parse_settings({"rate_limits": {"rules": rules, **top}}, env={}).rate_limits
    built = build_limiter(settings)
    assert built is not None
    if isinstance(built.store, MemoryLimitStore):
        built.store.clock = lambda: 1000.0
    return built


def admit(lim: RateLimiter, tenant: str = "key_a", route: str = "auto", tokens: int = 10) -> Admission | None:
    return asyncio.run(lim.admit(tenant, route, tokens))


def test_no_rules_means_no_limiter() -> None:
    assert build_limiter(RateLimitSettings()) is None


def test_each_key_has_its_own_counter_and_all_shares_one() -> None:
    per_key = limiter([{"per": "key", "requests_per_minute": 2}])
    assert admit(per_key, "key_a") and admit(per_key, "key_a")
    with pytest.raises(RateLimited):
        admit(per_key, "key_a")
    assert admit(per_key, "key_b") is not None  # another caller is untouched

    everyone = limiter([{"per": "all", "requests_per_minute": 2}])
    admit(everyone, "key_a")
    admit(everyone, "key_b")
    with pytest.raises(RateLimited) as refused:
        admit(everyone, "key_c")
    assert "on all callers together" in refused.value.message


def test_a_route_rule_applies_to_that_route_only() -> None:
    lim = limiter([{"route": "premium", "requests_per_minute": 1}])
    assert admit(lim, route="cheap") is None  # no rule applies: nothing counted, no headers
    admit(lim, route="premium")
    with pytest.raises(RateLimited) as refused:
        admit(lim, route="premium")
    assert "route premium" in refused.value.message


def test_refusal_is_openai_shaped_with_retry_headers() -> None:
    lim = limiter([{"requests_per_minute": 2, "tokens_per_minute": 1000}])
    admit(lim)
    admit(lim)
    with pytest.raises(RateLimited) as refused:
        admit(lim)
    err = refused.value
    assert err.status == 429
    assert err.body()["error"]["type"] == "requests"  # OpenAI's type names the kind that ran out
    assert err.body()["error"]["code"] == "rate_limit_exceeded"
    assert "requests per minute (RPM) on key key_a: limit 2" in err.message
    assert "try again in 30s" in err.message
    assert err.headers["retry-after"] == "30"
    assert err.headers["retry-after-ms"] == "30000"
    assert err.headers["x-ratelimit-remaining-requests"] == "0"
    assert err.headers["x-ratelimit-limit-tokens"] == "1000"
    assert err.headers["x-ratelimit-remaining-tokens"] == "980"


def test_admitted_requests_carry_the_tightest_limit_of_each_kind() -> None:
    lim = limiter(
        [
            {"per": "key", "requests_per_minute": 100, "tokens_per_day": 100_000},
            {"per": "all", "requests_per_minute": 10},
        ]
    )
    got = admit(lim, tokens=250)
    assert got is not None
    assert got.headers["x-ratelimit-limit-requests"] == "10"  # the shared rule binds first
    assert got.headers["x-ratelimit-remaining-requests"] == "9"
    assert got.headers["x-ratelimit-reset-requests"] == "6s"
    assert got.headers["x-ratelimit-remaining-tokens"] == "99750"
    assert got.tokens_charged == 250 and len(got.token_counters) == 1


def test_a_request_bigger_than_the_limit_says_so_without_retry_after() -> None:
    lim = limiter([{"tokens_per_minute": 500}])
    with pytest.raises(RateLimited) as refused:
        admit(lim, tokens=800)
    assert "Request too large for tokens per minute (TPM)" in refused.value.message
    assert "requested about 800" in refused.value.message
    assert "retry-after" not in refused.value.headers
    assert refused.value.body()["error"]["type"] == "tokens"


def test_settle_corrects_the_token_estimate() -> None:
    lim = limiter([{"tokens_per_minute": 1000}])
    got = admit(lim, tokens=100)
    assert got is not None
    lim.settle(got, 700)  # the answer's usage: 700 tokens in all
    after = admit(lim, tokens=0)
    assert after is not None
    assert after.headers["x-ratelimit-remaining-tokens"] == "300"
    lim.settle(after, 0)
    assert isinstance(lim.store, MemoryLimitStore)


def test_a_down_store_fails_open_by_default_and_closed_when_asked() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    rules = [{"requests_per_minute": 5}]
    open_lim = limiter(rules, store="redis", redis_url=url, store_timeout_ms=500)
    got = admit(open_lim)
    assert got is not None and got.headers == {}
    assert "rate limits not enforced: store unavailable" in got.note

    closed = limiter(rules, store="redis", redis_url=url, store_timeout_ms=500, on_store_error="deny")
    with pytest.raises(ServiceUnavailable) as refused:
        admit(closed)
    assert refused.value.status == 503 and refused.value.headers["retry-after"] == "1"


def test_the_redis_url_comes_from_the_environment_and_stays_out_of_repr() -> None:
    settings = parse_settings(
        {"rate_limits": {"store": "redis", "redis_url": "${REDIS_URL}", "rules": [{"requests_per_day": 9}]}},
        env={"REDIS_URL": "redis://:s3cret@127.0.0.1:6379/0"},
    ).rate_limits
    assert settings.redis_url == "redis://:s3cret@127.0.0.1:6379/0"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"rules": []}, "rate_limits.rules"),
        ({"rules": [{"per": "key"}]}, "rate_limits.rules[0]"),
        ({"rules": [{"requests_per_minute": 0}]}, "rate_limits.rules[0].requests_per_minute"),
        ({"rules": [{"requests_per_minute": 1.5}]}, "rate_limits.rules[0].requests_per_minute"),
        ({"rules": [{"per": "team", "requests_per_minute": 1}]}, "rate_limits.rules[0].per"),
        ({"rules": [{"requests_per_hour": 1}]}, "rate_limits.rules[0].requests_per_hour"),
        ({"store": "postgres", "rules": [{"requests_per_minute": 1}]}, "rate_limits.store"),
        ({"redis_url": "http://x", "rules": [{"requests_per_minute": 1}]}, "rate_limits.redis_url"),
        ({"redis_url": "${NOPE}", "rules": [{"requests_per_minute": 1}]}, "rate_limits.redis_url"),
        ({"store_timeout_ms": 0, "rules": [{"requests_per_minute": 1}]}, "rate_limits.store_timeout_ms"),
        ({"on_store_error": "panic", "rules": [{"requests_per_minute": 1}]}, "rate_limits.on_store_error"),
        ({"rules": [{"route": "", "requests_per_minute": 1}]}, "rate_limits.rules[0].route"),
    ],
)
def test_config_errors_name_the_key(section: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"rate_limits": section}, env={})
    assert err.value.key == key


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0201, "21ms"), (0.999, "999ms"), (1.5, "1.5s"), (30.0, "30s"), (360.0, "6m0s"), (3723.0, "1h2m3s")],
)
def test_reset_durations_read_like_openai(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_hung_store_costs_one_timeout_not_one_per_request() -> None:
    """A server that accepts connections and never answers: the first request waits for the store's
    timeout and passes (fail open); the next ones pass without asking it until the pause is over."""

    async def work() -> tuple[list[str], list[int]]:
        received = bytearray()
        asked: list[int] = []  # script calls the server had received after each request

        async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while chunk := await reader.read(65536):
                received.extend(chunk)  # never answers

        server = await asyncio.start_server(hang, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        rules = [{"requests_per_minute": 5}]
        lim = limiter(rules, store="redis", redis_url=f"redis://127.0.0.1:{port}/0", store_timeout_ms=100)
        now = [0.0]
        lim.clock = lambda: now[0]
        notes = []
        try:
            for pause in (0.0, 0.0, 0.9, 0.2):  # the store is left alone for 1 s after a failure
                now[0] += pause
                got = await lim.admit("key_a", "auto", 10)
                assert got is not None and got.headers == {}
                notes.append(got.note)
                await asyncio.sleep(0.02)  # let the server read what was sent
                asked.append(bytes(received).count(b"EVALSHA"))
        finally:
            await lim.close()
            server.close()
        return notes, asked

    notes, asked = asyncio.run(work())
    assert asked == [1, 1, 1, 2]  # asked first, left alone for the pause, then asked again
    # The client's reason header says the limits were not enforced, not where the store lives.
    assert notes == ["rate limits not enforced: store unavailable"] * 4


def test_a_redis_that_answered_is_not_down_because_the_loop_was_busy(redis_server: RedisServer) -> None:
    """Another request's work held the event loop (a cold worker's first requests did, under
    `serve --workers 2`) while Redis answered in a millisecond. asyncio.timeout counted that as a
    store timeout, and the limits went unenforced for the next second: 24 of 40 requests passed a
    limit of 7. A reply that has come in is a reply."""

    async def work() -> tuple[Admission | None, Admission | None]:
        rules = [{"requests_per_minute": 5}]
        lim = limiter(rules, store="redis", redis_url=redis_server.url, store_timeout_ms=100)
        tenant = f"key_{uuid.uuid4().hex}"
        try:
            await lim.admit(tenant, "auto", 1)  # connected, script loaded
            await asyncio.sleep(0.01)

            # Next on the loop, once the command is sent: another request's CPU work, 0.3 s of it.
            asyncio.get_running_loop().call_soon(time.sleep, 0.3)
            got = await lim.admit(tenant, "auto", 1)
            return got, await lim.admit(tenant, "auto", 1)
        finally:
            await lim.close()

    during, after = asyncio.run(work())
    assert during is not None and during.note == ""
    assert during.headers["x-ratelimit-remaining-requests"] == "3"
    assert after is not None and after.headers["x-ratelimit-remaining-requests"] == "2"  # asked, not skipped
