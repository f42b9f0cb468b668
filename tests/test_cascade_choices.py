"""Cascades and races through the real gateway with answers of several choices (`n`), legacy
function calls, audio and logprobs; and cache and fallback replays that keep all of it."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from satisfice.cache.assemble import choice_texts
from satisfice.cascade import CascadeRunner, _sample_body
from satisfice.config import CascadeSettings
from satisfice.verify import Verdict, VerifySettings
from tests.conftest import standard_config
from tests.fakes.behaviours import REFUSAL, openai_answers, openai_stream
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.spec import validate
from tests.test_cascade import ladder

CAPS = {"tools": True, "json_schema": True}
CHEAP = ["refuse1+ca", "badjson1+cb", "badargs1+cc", "empty1+cd", "refuse1+ce", "plain+cf"]
CHEAP += ["plain+cg", "plain+ch", "refuse1+cl", "refuse+ck", "plain+ci"]
STRONG = ["strong+cs", "slow-300+strong+cs2", "error500+cs3"]
MIDDLE = "mid+cm"  # an agreement partner: a rung between the cheap and the strong
MODELS = [
    *({"id": m, "provider": "openai", "input_per_mtok": 0.01, "output_per_mtok": 0.02} for m in CHEAP),
    {"id": MIDDLE, "provider": "openai", "input_per_mtok": 0.5, "output_per_mtok": 1.0},
    *({"id": m, "provider": "openai", "input_per_mtok": 5.0, "output_per_mtok": 10.0} for m in STRONG),
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "echo",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"echo": {"type": "string"}},
            "required": ["echo"],
            "additionalProperties": False,
        },
    },
}
TOOL = {
    "name": "lookup",
    "parameters": {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]},
}
FUNCTIONS = {"functions": [TOOL], "function_call": {"name": "lookup"}}
AUDIO = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}
LOGPROBS = {"logprobs": True, "top_logprobs": 0}


PRIORS = {**dict.fromkeys(CHEAP, 0.6), MIDDLE: 0.8}


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [
        {
            **m,
            "context_window": 100000,
            "quality_prior": PRIORS.get(str(m["id"]), 0.97),
            "capabilities": CAPS,
        }
        for m in MODELS
    ]
    config["cache"] = {"backend": "memory", "ttl_s": 600, "when": "never"}
    config["routes"] = {
        "n-refuse": ladder(["refuse1+ca", "strong+cs"]),
        "n-json": ladder(["badjson1+cb", "strong+cs"]),
        "n-args": ladder(["badargs1+cc", "strong+cs"]),
        "n-empty": ladder(["empty1+cd", "strong+cs"]),
        "n-prefix": ladder(["refuse1+cl", "strong+cs"], hold_tokens=30),
        "n-race": {
            **ladder(["refuse1+ce", "slow-300+strong+cs2"]),
            "strategy": "speculative",
            "cascade": {"speculative_deadline_ms": 1500},
        },
        "plain": ladder(["plain+cf", "strong+cs"]),
        "consistent": ladder(["plain+cg", "strong+cs"], verify={"self_consistency": True}),
        "agree": ladder(["plain+ch", MIDDLE, "strong+cs"], agreement=True),
        "down": ladder(["refuse+ck", "error500+cs3"]),
        "cached": {"strategy": "first", "candidates": ["plain+ci"], "cache": {"when": "always"}},
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-choices"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def ask(gw: GatewayProcess, body: dict[str, Any]) -> tuple[dict[str, str], Any]:
    """(headers, the parsed answer, or a stream's chunks), each checked against the OpenAI spec."""
    req = urllib.request.Request(
        gw.base_url + "/chat/completions",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json", "authorization": "Bearer k"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:  # a status >= 400 raises
        headers = {k.lower(): v for k, v in resp.headers.items()}
        text = resp.read().decode()
    if not body.get("stream"):
        validate("CreateChatCompletionResponse", json.loads(text))
        return headers, json.loads(text)
    lines = [ln[6:] for ln in text.splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(ln) for ln in lines[:-1]]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    return headers, chunks


def attempts(gw: GatewayProcess, headers: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(gw.row(headers["x-satisfice-request-id"])["attempts"])
    return found


def prompt(text: str = "What is the weather in Paris") -> list[dict[str, str]]:
    """A user message no other request sends (so the cache and the upstream log tell them apart)."""
    return [{"role": "user", "content": f"{text} ({uuid.uuid4().hex[:8]})?"}]


def streamed(chunks: list[dict[str, Any]], index: int = 0) -> dict[str, Any]:
    """One choice of a stream, put together as a client would: content, the function call's
    arguments, the audio transcript, logprobs and the finish reason."""
    out: dict[str, Any] = {"content": "", "arguments": "", "transcript": "", "logprobs": [], "finish": None}
    for choice in (c for chunk in chunks for c in chunk["choices"] if c["index"] == index):
        delta = choice["delta"]
        out["content"] += delta.get("content") or ""
        out["arguments"] += (delta.get("function_call") or {}).get("arguments") or ""
        out["transcript"] += (delta.get("audio") or {}).get("transcript") or ""
        out["logprobs"] += (choice.get("logprobs") or {}).get("content") or []
        out["finish"] = choice["finish_reason"] or out["finish"]
    return out


# --- every choice is verified -------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("route", "extra", "why"),
    [
        ("n-refuse", {}, "refusal"),
        ("n-json", {"response_format": SCHEMA}, "response_format"),
        (
            "n-args",
            {"tools": [{"type": "function", "function": TOOL}], "tool_choice": "required"},
            "tool_args",
        ),
        ("n-args", FUNCTIONS, "tool_args"),  # a legacy function call's arguments are checked as JSON too
        ("n-empty", {}, "degenerate"),
    ],
)
def test_a_bad_second_choice_fails_the_answer(
    gw: GatewayProcess, route: str, extra: dict[str, Any], why: str, stream: bool
) -> None:
    """Choice 0 is fine, choice 1 is not: only choice 0 used to be verified, so the client got the
    bad choice from the cheap model."""
    headers, _ = ask(gw, {"model": route, "messages": prompt(), "n": 2, "stream": stream, **extra})
    assert headers["x-satisfice-model"] == "strong+cs"
    cheap = attempts(gw, headers)[0]
    assert cheap["verdict"] == "fail" and f"choice 1: {why}" in cheap["message"]


def test_a_held_stream_of_several_choices_is_checked_choice_by_choice(gw: GatewayProcess) -> None:
    """The choices' deltas interleave: their text used to be checked as one garbled text, in which
    choice 1's refusal went unseen, and the held prefix passed as merely unsure."""
    long = " ".join(f"word{i}" for i in range(80))
    headers, chunks = ask(gw, {"model": "n-prefix", "messages": prompt(long), "n": 2, "stream": True})
    assert headers["x-satisfice-model"] == "strong+cs"
    cheap = attempts(gw, headers)[0]
    assert cheap["verdict"] == "fail" and "choice 1: refusal" in cheap["message"]
    assert streamed(chunks, 1)["content"].startswith("echo: ")


@pytest.mark.parametrize("stream", [False, True])
def test_a_race_verifies_every_choice(gw: GatewayProcess, stream: bool) -> None:
    headers, _ = ask(gw, {"model": "n-race", "messages": prompt(), "n": 2, "stream": stream})
    assert headers["x-satisfice-model"] == "slow-300+strong+cs2"
    cheap = next(a for a in attempts(gw, headers) if a["model"] == "refuse1+ce")
    assert cheap["verdict"] == "fail" and "choice 1: refusal" in cheap["message"]


@pytest.mark.parametrize("stream", [False, True])
def test_good_choices_pass(gw: GatewayProcess, stream: bool) -> None:
    headers, answer = ask(gw, {"model": "plain", "messages": prompt(), "n": 3, "stream": stream})
    assert headers["x-satisfice-model"] == "plain+cf"
    assert attempts(gw, headers)[0]["verdict"] == "pass"
    count = (
        len({c["index"] for chunk in answer for c in chunk["choices"]}) if stream else len(answer["choices"])
    )
    assert count == 3


# --- a function call or a spoken answer is judged by what it says ---------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_a_legacy_function_call_is_judged_by_its_arguments(gw: GatewayProcess, stream: bool) -> None:
    """A streamed function call used to look empty: every one escalated to the strongest rung."""
    messages = prompt()
    headers, answer = ask(gw, {"model": "plain", "messages": messages, "stream": stream, **FUNCTIONS})
    assert headers["x-satisfice-model"] == "plain+cf"
    assert attempts(gw, headers)[0]["verdict"] == "pass"
    if stream:
        got = streamed(answer)
        assert (got["arguments"], got["finish"]) == (
            json.dumps({"echo": messages[0]["content"]}, separators=(",", ":")),
            "function_call",
        )
    else:
        assert answer["choices"][0]["message"]["function_call"]["name"] == "lookup"


@pytest.mark.parametrize("stream", [False, True])
def test_an_audio_answer_is_judged_by_its_transcript(gw: GatewayProcess, stream: bool) -> None:
    """A spoken answer has no content: it used to be judged empty, and always escalated."""
    messages = prompt()
    headers, answer = ask(gw, {"model": "plain", "messages": messages, "stream": stream, **AUDIO})
    assert headers["x-satisfice-model"] == "plain+cf"
    assert attempts(gw, headers)[0]["verdict"] == "pass"
    said = (
        streamed(answer)["transcript"] if stream else answer["choices"][0]["message"]["audio"]["transcript"]
    )
    assert said == "echo: " + messages[0]["content"]


# --- replays keep everything ----------------------------------------------------------------------------

CASES: dict[str, dict[str, Any]] = {
    "logprobs": LOGPROBS,
    "function_call": FUNCTIONS,
    "audio": AUDIO,
    "n": {"n": 2},
}


def assert_same(answer: dict[str, Any], chunks: list[dict[str, Any]]) -> None:
    """The whole answer and the stream say the same, choice by choice."""
    assert len(answer["choices"]) == len({c["index"] for chunk in chunks for c in chunk["choices"]})
    for choice in answer["choices"]:
        got, message = streamed(chunks, choice["index"]), choice["message"]
        assert got["finish"] == choice["finish_reason"]
        assert got["content"] == (message["content"] or "")
        assert got["logprobs"] == ((choice["logprobs"] or {}).get("content") or [])
        assert got["arguments"] == (message.get("function_call") or {}).get("arguments", "")
        assert got["transcript"] == (message.get("audio") or {}).get("transcript", "")


def assert_kept(case: str, answer: dict[str, Any]) -> None:
    """What the case is about is there at all (so `assert_same` is not vacuous)."""
    first = answer["choices"][0]
    kept = {
        "logprobs": bool((first["logprobs"] or {}).get("content")),
        "function_call": first["message"].get("function_call", {}).get("name") == "lookup",
        "audio": bool(first["message"].get("audio", {}).get("data")),
        "n": len(answer["choices"]) == 2,
    }
    assert kept[case]


@pytest.mark.parametrize("case", list(CASES))
def test_a_stored_answer_replays_as_a_stream_with_everything(gw: GatewayProcess, case: str) -> None:
    """A hit replayed as a stream used to drop logprobs, audio and a legacy function call."""
    body = {"model": "cached", "messages": prompt(), **CASES[case]}
    first_headers, first = ask(gw, body)
    assert first_headers["x-satisfice-cache"] == "miss"
    headers, chunks = ask(gw, {**body, "stream": True})
    assert headers["x-satisfice-cache"] == "hit-exact"
    assert_kept(case, first)
    assert_same(first, chunks)
    if case == "audio":  # id, data and expiry too
        audio = next(c["delta"]["audio"] for ch in chunks for c in ch["choices"] if "audio" in c["delta"])
        assert audio == first["choices"][0]["message"]["audio"]


@pytest.mark.parametrize("case", list(CASES))
def test_a_streamed_answer_replays_whole_with_everything(gw: GatewayProcess, case: str) -> None:
    """Stored from a stream and asked again without streaming: the answer used to lose its function
    call and audio and lack the `logprobs` and `refusal` keys the spec requires."""
    body = {"model": "cached", "messages": prompt(), **CASES[case]}
    headers, chunks = ask(gw, {**body, "stream": True})
    assert headers["x-satisfice-cache"] == "miss"
    hit_headers, answer = ask(gw, body)  # validated against the spec
    assert hit_headers["x-satisfice-cache"] == "hit-exact"
    assert_kept(case, answer)
    assert_same(answer, chunks)


def test_a_failed_answer_replayed_as_a_stream_keeps_its_logprobs(gw: GatewayProcess) -> None:
    """The refusal failed and the rung above is down: the held answer is streamed back, logprobs
    and all (they used to be dropped)."""
    headers, chunks = ask(gw, {"model": "down", "messages": prompt(), "stream": True, **LOGPROBS})
    assert headers["x-satisfice-model"] == "refuse+ck"
    got = streamed(chunks)
    assert got["content"] == REFUSAL
    assert "".join(t["token"] for t in got["logprobs"]) == REFUSAL


# --- the second sample samples --------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_the_self_consistency_sample_is_a_real_sample(
    gw: GatewayProcess, upstream: FakeUpstream, stream: bool
) -> None:
    """At temperature 0 with a seed the second sample used to repeat the request (agreeing by
    construction), and ask for all n choices when only one is compared."""
    messages = prompt("What is 6 times 7")
    body = {"model": "consistent", "messages": messages, "n": 2, "temperature": 0, "seed": 7, "top_p": 0.9}
    headers, _ = ask(gw, {**body, "stream": stream})
    assert [a["model"] for a in attempts(gw, headers)] == ["plain+cg", "plain+cg"]
    sent = [r["body"] for r in upstream.requests() if messages[0]["content"] in json.dumps(r["body"])]
    answer, sample = sent
    assert {k: answer.get(k) for k in ("n", "temperature", "seed")} == {"n": 2, "temperature": 0, "seed": 7}
    assert "seed" not in sample and sample["n"] == 1 and sample["temperature"] == 0.7
    assert sample["top_p"] == 0.9 and sample["messages"] == messages and not sample.get("stream")


def test_a_streamed_agreement_partner_is_asked_for_one_choice(
    gw: GatewayProcess, upstream: FakeUpstream
) -> None:
    messages = prompt("What is 6 times 7")
    body = {"model": "agree", "messages": messages, "n": 2, "temperature": 0, "seed": 7}
    headers, _ = ask(gw, {**body, "stream": True})
    assert [a["model"] for a in attempts(gw, headers)] == ["plain+ch", "mid+cm"]
    sent = [r["body"] for r in upstream.requests() if messages[0]["content"] in json.dumps(r["body"])]
    partner = next(b for b in sent if b["model"] == "mid+cm")
    assert (partner["n"], partner["temperature"], partner["seed"]) == (1, 0, 7)


# --- the parts on their own ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "sampled"),
    [({"temperature": 0}, 0.7), ({"temperature": 0.2}, 0.7), ({"temperature": 1.3}, 1.3), ({}, None)],
)
def test_a_sample_is_asked_at_a_temperature_that_samples(
    asked: dict[str, Any], sampled: float | None
) -> None:
    """At least 0.7; a higher one of the client's is kept, and none set leaves the provider's (1)."""
    body = {"model": "m", "messages": prompt(), "n": 3, "seed": 1, "max_tokens": 9, **asked}
    expected = {k: v for k, v in body.items() if k != "seed"} | {"n": 1}
    if sampled is not None:
        expected["temperature"] = sampled
    assert _sample_body(body) == expected
    assert body["n"] == 3 and body["seed"] == 1  # the client's request is left as it was


def test_a_held_prefix_of_several_choices_is_checked_choice_by_choice() -> None:
    """Interleaved, the choices' text used to be checked as one: the refusal in it went unseen."""
    answers = openai_answers(
        {"model": "refuse1", "messages": prompt(" ".join(f"word{i}" for i in range(40))), "n": 2}
    )
    events = list(openai_stream(answers, "m", 1, False))[:-3]  # not finished: choice 0 goes on
    cs = CascadeSettings(verify=VerifySettings())
    verdict, reason = asyncio.run(CascadeRunner.held_verdict({}, events, choice_texts(events), False, cs))
    assert (verdict, reason.split(":")[:3]) == (Verdict.FAIL, ["fail", " choice 1", " refusal"])


def test_a_held_tool_call_is_not_read_for_the_prompts_language() -> None:
    """A German prompt's tool call may well search in English: its arguments are no answer text to
    check for a language (nor for a refusal), as for a whole answer; what the answer says still is."""
    german = (
        "Bitte suche nach den neuesten Nachrichten über das Wetter in Berlin und fasse sie kurz zusammen."
    )
    body = {"messages": [{"role": "user", "content": german}]}
    query = "latest news about the weather in Berlin today and the forecast for the coming week " * 3

    def chunk(delta: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}).encode()

    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "search", "arguments": ""}}
    calling = [chunk({"role": "assistant", "tool_calls": [call]})]
    calling += [
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": w + " "}}]}) for w in query.split()
    ]
    cs = CascadeSettings(verify=VerifySettings())
    verdict, reason = asyncio.run(CascadeRunner.held_verdict(body, calling, choice_texts(calling), False, cs))
    assert verdict is Verdict.UNSURE, reason  # not "fail: language"
    saying = [chunk({"role": "assistant", "content": ""})] + [
        chunk({"content": w + " "}) for w in query.split()
    ]
    verdict, reason = asyncio.run(CascadeRunner.held_verdict(body, saying, choice_texts(saying), False, cs))
    assert verdict is Verdict.FAIL and "language" in reason
