"""The OpenAPI conformance helper accepts what the spec allows and rejects what it does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.spec import _allow_null, spec_path, validate


def _completion(**message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "refusal": None, **message},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def _chunk(**choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None, **choice}],
    }


def test_spec_is_found() -> None:
    assert spec_path().is_file(), f"OpenAPI description missing at {spec_path()}"


def test_accepts_minimal_chat_completion() -> None:
    validate("CreateChatCompletionResponse", _completion())


def test_accepts_null_message_content() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    validate("CreateChatCompletionResponse", _completion(content=None, tool_calls=[call]))


def test_accepts_error_body() -> None:
    body = {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}}
    validate("ErrorResponse", body)


def test_accepts_list_models_and_embeddings() -> None:
    model = {"id": "gpt-4o-mini", "object": "model", "created": 1, "owned_by": "satisfice"}
    validate("ListModelsResponse", {"object": "list", "data": [model]})
    embedding = {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}
    usage = {"prompt_tokens": 1, "total_tokens": 1}
    body = {"object": "list", "model": "m", "data": [embedding], "usage": usage}
    validate("CreateEmbeddingResponse", body)


def test_nullable_true_fields_accept_null() -> None:
    # Both fields are declared with OpenAPI's `nullable: true` in the stream chunk schema.
    validate("CreateChatCompletionStreamResponse", _chunk(logprobs=None))
    validate("CreateChatCompletionStreamResponse", _chunk(finish_reason="stop"))


def test_nullable_does_not_loosen_the_type() -> None:
    with pytest.raises(AssertionError, match="finish_reason"):
        validate("CreateChatCompletionStreamResponse", _chunk(finish_reason="done"))


def test_rejects_missing_choices_with_readable_message() -> None:
    body = _completion()
    del body["choices"]
    with pytest.raises(AssertionError) as info:
        validate("CreateChatCompletionResponse", body)
    assert "'choices' is a required property" in str(info.value)


def test_rejects_wrong_types_and_names_the_path() -> None:
    body = _completion()
    body["choices"][0]["message"]["content"] = 42
    body["created"] = "yesterday"
    with pytest.raises(AssertionError) as info:
        validate("CreateChatCompletionResponse", body)
    text = str(info.value)
    assert "/created" in text and "/choices/0/message/content" in text


def test_error_body_requires_all_fields() -> None:
    with pytest.raises(AssertionError, match="'param' is a required property"):
        validate("ErrorResponse", {"error": {"message": "bad", "type": "x", "code": None}})


def test_unknown_schema_name() -> None:
    with pytest.raises(KeyError):
        validate("NoSuchSchema", {})


def test_allow_null_wraps_and_keeps_property_named_nullable() -> None:
    schema = {"type": "object", "properties": {"nullable": {"type": "string"}}, "nullable": True}
    assert _allow_null(schema) == {
        "anyOf": [{"type": "object", "properties": {"nullable": {"type": "string"}}}, {"type": "null"}]
    }


def test_env_var_overrides_spec_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    spec = tmp_path / "mini.json"
    spec.write_text('{"components": {"schemas": {"Thing": {"type": "integer", "nullable": true}}}}')
    monkeypatch.setenv("SATISFICE_OPENAPI_SPEC", str(spec))
    validate("Thing", None)
    validate("Thing", 3)
    with pytest.raises(AssertionError):
        validate("Thing", "three")
