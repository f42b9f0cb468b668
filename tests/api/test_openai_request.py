"""Validation of OpenAI chat-completions requests (`api/openai_request.py`): reasoning_effort."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from satisfice.api.openai_request import REASONING_EFFORTS, validate_chat_request
from satisfice.errors import InvalidRequest
from tests.spec import spec_path

HI: Any = [{"role": "user", "content": "hi"}]


def test_reasoning_efforts_are_the_specs() -> None:
    schemas = orjson.loads(spec_path().read_bytes())["components"]["schemas"]
    enum = next(s["enum"] for s in schemas["ReasoningEffort"]["anyOf"] if s.get("type") == "string")
    assert list(REASONING_EFFORTS) == enum


@pytest.mark.parametrize("effort", [*REASONING_EFFORTS, None])
def test_known_reasoning_efforts_pass(effort: str | None) -> None:
    body = {"model": "m", "messages": HI, "reasoning_effort": effort}
    assert validate_chat_request(body) is body


@pytest.mark.parametrize(
    ("effort", "code"), [("extreme", "invalid_value"), ("HIGH", "invalid_value"), (3, "invalid_type")]
)
def test_unknown_reasoning_effort_is_a_400_naming_the_parameter(effort: Any, code: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        validate_chat_request({"model": "m", "messages": HI, "reasoning_effort": effort})
    assert (err.value.status, err.value.param, err.value.code) == (400, "reasoning_effort", code)
    assert "reasoning_effort" in err.value.message
    if code == "invalid_value":
        assert "'low', 'medium', 'high'" in err.value.message


@pytest.mark.parametrize("value", ["no", 0, None])
def test_include_usage_must_be_a_boolean(value: Any) -> None:
    """A string "no" was read as a yes."""
    body = {"model": "m", "messages": HI, "stream": True, "stream_options": {"include_usage": value}}
    with pytest.raises(InvalidRequest) as err:
        validate_chat_request(body)
    assert (err.value.param, err.value.code) == ("stream_options.include_usage", "invalid_type")
    assert validate_chat_request({**body, "stream_options": {"include_usage": False}})
    assert validate_chat_request({**body, "stream_options": {}})


def test_a_model_name_with_a_control_character_is_refused() -> None:
    for name in ("gpt-4o-mini\n", "gpt\t4o", "gpt\x00"):
        with pytest.raises(InvalidRequest) as err:
            validate_chat_request({"model": name, "messages": HI})
        assert (err.value.param, err.value.code) == ("model", "invalid_value")
    assert validate_chat_request({"model": "mod\u00e8le", "messages": HI})  # non-ASCII is a name
