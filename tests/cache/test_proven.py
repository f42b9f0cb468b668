"""'The cheapest answer that proved right': with require_proven, only answers a verifier passed or
feedback approved are served again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess

PLAIN = {
    "id": "plain",
    "provider": "openai",
    "input_per_mtok": 0.01,
    "output_per_mtok": 0.02,
    "context_window": 100000,
    "quality_prior": 0.6,
}


@pytest.fixture(scope="module")
def proving(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    config["models"] = [PLAIN]
    proven_only = {"require_proven": True}
    config["routes"] = {
        "verified": {
            "strategy": "cascade",
            "router": "prior",
            "knob": "quality=0.5",
            "candidates": ["plain", "gpt-4o"],
            "cache": proven_only,
        },
        "unverified": {"strategy": "first", "candidates": ["gpt-4o-mini"], "cache": proven_only},
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-proven"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def ask(gw: GatewayProcess, model: str, text: str) -> Any:
    client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    return client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], temperature=0
    )


def test_a_cheap_answer_the_cascade_verified_is_served_again(proving: GatewayProcess) -> None:
    text = f"What is the capital of France? {uuid.uuid4().hex}"
    first = ask(proving, "verified", text)
    assert first.headers["x-satisfice-model"] == "plain"  # the cheap model answered and passed
    second = ask(proving, "verified", text)
    assert second.headers["x-satisfice-cache"] == "hit-exact"
    assert second.headers["x-satisfice-model"] == "plain"  # repeats bypass routing


def test_an_unverified_answer_waits_for_good_feedback(proving: GatewayProcess) -> None:
    text = f"Name a prime number. {uuid.uuid4().hex}"
    first = ask(proving, "unverified", text)
    assert ask(proving, "unverified", text).headers["x-satisfice-cache"] == "miss"  # not proven yet
    assert proving.feedback(first.headers["x-satisfice-request-id"], 1.0) == 200
    assert ask(proving, "unverified", text).headers["x-satisfice-cache"] == "hit-exact"


def test_bad_feedback_on_a_waiting_answer_discards_it(proving: GatewayProcess) -> None:
    text = f"Name an even number. {uuid.uuid4().hex}"
    first = ask(proving, "unverified", text)
    assert proving.feedback(first.headers["x-satisfice-request-id"], 0.0) == 200
    assert proving.feedback(first.headers["x-satisfice-request-id"], 1.0) == 404  # nothing left to prove
    assert ask(proving, "unverified", text).headers["x-satisfice-cache"] == "miss"


def test_a_verified_streamed_answer_is_stored_and_served_again(proving: GatewayProcess) -> None:
    text = f"What is the capital of Italy? {uuid.uuid4().hex}"
    client = openai.OpenAI(base_url=proving.base_url, api_key="k", max_retries=0)
    stream = client.chat.completions.create(
        model="verified", messages=[{"role": "user", "content": text}], temperature=0, stream=True
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    again = ask(proving, "verified", text)
    assert again.headers["x-satisfice-cache"] == "hit-exact"  # the held, verified stream was stored
    assert again.parse().choices[0].message.content == streamed
