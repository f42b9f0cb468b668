"""Hostile upstreams through the real gateway and the fake upstream on loopback: an event that never
ends, one that trickles, bytes that are not UTF-8 (or not JSON), a gzip bomb, a huge body, and a
slow client. Each is one failed attempt (failed over before a stream's first token; an error event
after it) and costs the gateway no more than its limits; the other requests are served meanwhile."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import dialect_providers, single_call_reliability
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

HELLO: Any = [{"role": "user", "content": "hello there"}]
IDLE_S = 1.0
# Small caps, set in the config as a user would (the defaults are 64 MiB and 8 MiB): the test needs
# no 64 MiB bodies, and it shows the settings reach the gateway.
BODY_CAP_MIB = 2
EVENT_CAP = 64 * 1024


def _then_ok(first: str) -> dict[str, Any]:
    return {"strategy": "first", "candidates": [first, "oai/fine+hostile"]}


def _config(up: FakeUpstream) -> dict[str, Any]:
    # breaker_failures 1: one bad answer opens a deployment's breaker, which /health shows
    reliability = {
        **single_call_reliability(5.0, 20.0),
        "stream_idle_timeout_s": IDLE_S,
        "breaker_failures": 1,
        "max_response_bytes": BODY_CAP_MIB << 20,
        "max_event_bytes": EVENT_CAP,
    }
    return {
        "reliability": reliability,
        "providers": dialect_providers(up),
        "routes": {
            "bigline-first": _then_ok("oai/bigline-0+r"),
            "trickle-first": _then_ok("oai/trickle-0+r"),
            "badutf8-first": _then_ok("oai/badutf8-0+r"),
            "ant-badutf8-first": _then_ok("ant/claude+badutf8-3+r"),  # its first text delta
            "gzipbomb": _then_ok("oai/gzipbomb+r"),
            "gzipbomb-stream": _then_ok("oai/gzipbomb+rs"),
            "bigbody": _then_ok(f"oai/bigbody-{BODY_CAP_MIB + 1}+r"),
        },
    }


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with GatewayProcess(tmp_path_factory.mktemp("hostile"), _config(upstream)) as g:
        yield g


def _tag() -> str:
    return uuid.uuid4().hex[:6]


def _attempts(gw: GatewayProcess, rid: str) -> list[tuple[str, str, str]]:
    return [(a["model"], a["outcome"], a.get("message", "")) for a in json.loads(gw.row(rid)["attempts"])]


def _open_breakers(gw: GatewayProcess) -> list[str]:
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        raw = b"".join(iter(lambda: s.recv(65536), b""))
    found: list[str] = json.loads(raw.partition(b"\r\n\r\n")[2])["open_breakers"]
    return found


def _stream_text(oai: openai.OpenAI, model: str) -> tuple[str, str]:
    """The text a stream of `model` brought, and its request id."""
    with oai.chat.completions.with_streaming_response.create(
        model=model, messages=HELLO, stream=True
    ) as resp:
        rid = resp.headers["x-satisfice-request-id"]
        text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    return text, rid


def _broken_stream(oai: openai.OpenAI, model: str) -> tuple[str, str, openai.APIError]:
    """A stream that ends with an error event: the text before it, the request id and the error."""
    got: list[str] = []
    rid = ""
    with (
        pytest.raises(openai.APIError) as e,
        oai.chat.completions.with_streaming_response.create(model=model, messages=HELLO, stream=True) as resp,
    ):
        rid = resp.headers["x-satisfice-request-id"]
        got.extend(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    return "".join(got), rid, e.value


def _vm_hwm_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


# --- an event that never ends ------------------------------------------------------------------------


def test_an_endless_event_before_the_first_token_fails_over(
    gw: GatewayProcess, oai: openai.OpenAI, upstream: FakeUpstream
) -> None:
    """One never-ending 25-50 MB event burned 8-38 s of CPU and froze every other request."""
    text, rid = _stream_text(oai, "bigline-first")
    assert text == "echo: hello there"
    ((model, outcome, message), ok) = _attempts(gw, rid)
    assert (model, outcome) == ("bigline-0+r", "bad_response") and ok[:2] == ("fine+hostile", "ok")
    assert f"larger than {EVENT_CAP} bytes (reliability.max_event_bytes)" in message
    upstream.wait_for(lambda rs: all(r["finished"] for r in rs if r["model"] == "bigline-0+r"))


def test_an_endless_event_after_the_first_token_ends_the_stream_with_an_error(
    gw: GatewayProcess, oai: openai.OpenAI
) -> None:
    model = f"oai/bigline-2+{_tag()}"
    text, rid, err = _broken_stream(oai, model)
    assert text == "echo: "  # the token that went out before
    assert "reliability.max_event_bytes" in err.message
    row = gw.row(rid)
    assert row["outcome"] == "stream_error" and "max_event_bytes" in row["error"]
    assert any(model.partition("/")[2] in key for key in _open_breakers(gw))  # counted against it


# --- an event that trickles --------------------------------------------------------------------------


def test_a_trickling_event_stalls_the_stream_while_others_are_served(
    gw: GatewayProcess, oai: openai.OpenAI
) -> None:
    """A byte every 50 ms and never an event's end: the idle timeout measured the gap between
    socket reads, so this ran for as long as the upstream liked."""
    model = f"oai/trickle-2+{_tag()}"
    outcome: dict[str, Any] = {}

    def hostile() -> None:
        try:
            outcome["result"] = _broken_stream(oai, model)
        except BaseException as e:  # reported by the assertions below
            outcome["result"] = e

    started = time.monotonic()
    thread = threading.Thread(target=hostile)
    thread.start()
    served = oai.chat.completions.create(model=f"oai/fine+{_tag()}", messages=HELLO)  # meanwhile
    thread.join(30)
    assert served.choices[0].message.content == "echo: hello there"
    assert isinstance(outcome["result"], tuple), outcome["result"]
    text, rid, err = outcome["result"]
    assert time.monotonic() - started < 15  # the fake trickles for 60 s
    assert text == "echo: " and "stalled" in err.message
    row = gw.row(rid)
    assert row["outcome"] == "stream_error" and "stalled" in row["error"]


def test_a_trickle_before_the_first_token_fails_over_on_the_idle_timeout(
    gw: GatewayProcess, oai: openai.OpenAI
) -> None:
    text, rid = _stream_text(oai, "trickle-first")
    assert text == "echo: hello there"
    first, ok = _attempts(gw, rid)
    # the stream's idle timeout (1 s), not the attempt's (5 s)
    assert first == ("trickle-0+r", "timeout", "the upstream stream stalled") and ok[1] == "ok"


# --- bytes that are not UTF-8, data that is not JSON ---------------------------------------------------


def test_a_first_event_that_is_not_utf8_fails_over(gw: GatewayProcess, oai: openai.OpenAI) -> None:
    text, rid = _stream_text(oai, "badutf8-first")
    assert text == "echo: hello there"
    first, ok = _attempts(gw, rid)
    assert first == (
        "badutf8-0+r",
        "bad_response",
        "the upstream sent a stream event that is not valid UTF-8",
    )
    assert ok[1] == "ok"


def test_an_event_that_is_not_utf8_mid_stream_is_an_error_event(
    gw: GatewayProcess, oai: openai.OpenAI
) -> None:
    """The bytes were relayed: the OpenAI SDK crashed with UnicodeDecodeError and the ledger said ok."""
    model = f"oai/badutf8-2+{_tag()}"
    text, rid, err = _broken_stream(oai, model)
    assert text == "echo: " and "not valid UTF-8" in err.message
    row = gw.row(rid)
    assert row["outcome"] == "stream_error" and "not valid UTF-8" in row["error"]
    assert any(model.partition("/")[2] in key for key in _open_breakers(gw))


def test_an_event_that_is_not_json_mid_stream_is_an_error_event(
    gw: GatewayProcess, oai: openai.OpenAI
) -> None:
    text, rid, err = _broken_stream(oai, f"oai/notjson-2+{_tag()}")
    assert text == "echo: " and "not a JSON object" in err.message
    assert gw.row(rid)["outcome"] == "stream_error"


def test_a_messages_client_gets_an_error_event_not_a_500(
    gw: GatewayProcess, ant: anthropic.Anthropic
) -> None:
    """/v1/messages re-encodes each event from its JSON: the bytes made it fail with a 500
    internal_error (and a traceback in the log)."""
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as err,
        ant.messages.stream(model=f"oai/badutf8-2+{_tag()}", max_tokens=50, messages=HELLO) as s,
    ):
        rid = s.response.headers["x-satisfice-request-id"]
        texts.extend(s.text_stream)
    assert err.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert "not valid UTF-8" in err.value.body["error"]["message"]  # type: ignore[index]
    assert "".join(texts) == "echo: "
    row = gw.row(rid)
    assert (row["outcome"], row["status"]) == ("stream_error", 502), row


def test_a_translated_event_that_is_not_utf8_fails_over(gw: GatewayProcess, oai: openai.OpenAI) -> None:
    text, rid = _stream_text(oai, "ant-badutf8-first")
    assert text == "echo: hello there"
    first, ok = _attempts(gw, rid)
    assert first[:2] == ("claude+badutf8-3+r", "bad_response") and "UTF-8" in first[2] and ok[1] == "ok"


# --- bodies: a gzip bomb, a huge one --------------------------------------------------------------------


def test_a_gzip_bomb_fails_over_and_is_not_inflated(gw: GatewayProcess, oai: openai.OpenAI) -> None:
    """A quarter megabyte that inflates to 256 MiB: resp.read() inflated all of it (a 2 MB bomb took
    2.4 GB of RSS, which stayed)."""
    assert gw.proc is not None
    before = _vm_hwm_mib(gw.proc.pid)
    raw = oai.chat.completions.with_raw_response.create(model="gzipbomb", messages=HELLO)
    assert raw.parse().choices[0].message.content == "echo: hello there"
    first, _ = _attempts(gw, raw.headers["x-satisfice-request-id"])
    assert first[:2] == ("gzipbomb+r", "bad_response") and "max_response_bytes" in first[2]
    # Read up to the 64 MiB cap, no further (the chunks and their join: twice that at most).
    assert _vm_hwm_mib(gw.proc.pid) - before < 2 * BODY_CAP_MIB + 32


def test_a_gzip_bomb_with_no_other_candidate_is_a_502(gw: GatewayProcess, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as e:
        oai.chat.completions.create(model=f"oai/gzipbomb+{_tag()}", messages=HELLO)
    assert e.value.status_code == 502 and "max_response_bytes" in e.value.message


def test_a_gzip_bombed_stream_fails_over(gw: GatewayProcess, oai: openai.OpenAI) -> None:
    text, rid = _stream_text(oai, "gzipbomb-stream")
    assert text == "echo: hello there"
    first, _ = _attempts(gw, rid)
    assert first[:2] == ("gzipbomb+rs", "bad_response") and "max_event_bytes" in first[2]


def test_a_body_over_the_cap_fails_over(gw: GatewayProcess, oai: openai.OpenAI) -> None:
    """A 50 MB body was accepted; past max_response_bytes it is a bad answer."""
    raw = oai.chat.completions.with_raw_response.create(model="bigbody", messages=HELLO)
    assert raw.parse().choices[0].message.content == "echo: hello there"
    first, _ = _attempts(gw, raw.headers["x-satisfice-request-id"])
    assert first[1] == "bad_response" and "max_response_bytes" in first[2]


# --- a slow client -----------------------------------------------------------------------------------------


def test_a_slow_client_that_keeps_reading_is_not_cut(gw: GatewayProcess) -> None:
    """A client reading ~20 KB/s from a fast 7 MB stream fills its socket, so each write waits: the
    whole write was timed, and it was cut after the idle timeout ("nothing read for 1 s") although
    it was reading. Now only a client that reads nothing for that long is let go
    (tests/test_ledger_and_robustness.py)."""
    text = " ".join("x" * 1000 for _ in range(6000))  # echoed back: ~7 MB of events
    body = json.dumps(
        {"model": f"oai/fine+{_tag()}", "stream": True, "messages": [{"role": "user", "content": text}]}
    )
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", gw.port))
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    before = {r["id"] for r in gw.rows()}
    try:
        s.sendall(head.encode() + body.encode())
        s.settimeout(10)
        got = 0
        until = time.monotonic() + 5 * IDLE_S
        while time.monotonic() < until:
            piece = s.recv(2048)
            assert piece, "the gateway closed the stream"
            got += len(piece)
            time.sleep(0.1)
        assert got < 2_000_000  # it was slow: the stream was far from over
    finally:
        s.close()
    deadline = time.monotonic() + 10
    while not (rows := [r for r in gw.rows() if r["id"] not in before]) and time.monotonic() < deadline:
        time.sleep(0.05)
    (row,) = rows
    assert row["outcome"] == "client_closed" and row["error"] == "client disconnected mid-stream"
