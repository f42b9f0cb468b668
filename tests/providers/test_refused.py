"""`RefusedParams`: which upstream refusals a call is fitted to, and what is remembered."""

from __future__ import annotations

from satisfice.providers.base import Deployment
from satisfice.providers.failures import AttemptFailed, FailureKind
from satisfice.providers.refused import RefusedParams

DEP = Deployment(
    provider="openai", model="gpt-x", upstream_model="gpt-x", base_url="http://x/v1", dialect="openai"
)
OTHER = Deployment(
    provider="openai", model="gpt-y", upstream_model="gpt-y", base_url="http://x/v1", dialect="openai"
)
BODY = {"model": "gpt-x", "messages": [], "temperature": 0.2, "max_tokens": 9}


def refusal(
    param: str, code: str | None = "unsupported_parameter", message: str = "no", status: int = 400
) -> AttemptFailed:
    return AttemptFailed(FailureKind.CLIENT_ERROR, message, status=status, param=param, code=code)


def test_a_refused_best_effort_field_is_dropped_and_remembered_per_deployment_and_effort() -> None:
    refused = RefusedParams()
    fitted = refused.refit("openai", DEP, BODY, refusal("temperature"))
    assert fitted == {"model": "gpt-x", "messages": [], "max_tokens": 9}
    assert refused.fit("openai", DEP, BODY) == fitted
    assert refused.fit("openai", OTHER, BODY) is BODY  # another deployment: as it came
    assert refused.fit("openai", DEP, {**BODY, "reasoning_effort": "none"})["temperature"] == 0.2
    assert refused.fit("gemini", DEP, BODY) is BODY


def test_max_tokens_becomes_max_completion_tokens_unless_both_were_sent() -> None:
    refused = RefusedParams()
    assert refused.refit("azure", DEP, BODY, refusal("max_tokens"))["max_completion_tokens"] == 9  # type: ignore[index]
    assert refused.refit("openai", OTHER, {**BODY, "max_completion_tokens": 5}, refusal("max_tokens")) is None


def test_only_an_unsupported_best_effort_field_of_the_body_is_fitted() -> None:
    refused = RefusedParams()
    assert refused.refit("openai", DEP, BODY, refusal("logprobs")) is None  # the client relies on it
    assert refused.refit("openai", DEP, BODY, refusal("top_p")) is None  # not in the body
    assert refused.refit("openai", DEP, BODY, refusal("temperature", status=422)) is None
    assert (
        refused.refit("openai", DEP, BODY, refusal("temperature", code="invalid_value", message="too hot"))
        is None
    )
    worded = refusal("temperature", code=None, message="temperature is not supported by this model")
    assert refused.refit("openai", DEP, BODY, worded) is not None  # a host without OpenAI's codes
    assert refused.refit("anthropic", DEP, BODY, refusal("temperature")) is None


def test_what_is_remembered_is_bounded() -> None:
    refused = RefusedParams(capacity=2)
    for effort in ("low", "medium", "high"):
        refused.refit("openai", DEP, {**BODY, "reasoning_effort": effort}, refusal("temperature"))
    assert "temperature" in refused.fit("openai", DEP, {**BODY, "reasoning_effort": "low"})  # forgotten first
    assert "temperature" not in refused.fit("openai", DEP, {**BODY, "reasoning_effort": "high"})


def test_a_refused_effort_becomes_the_nearest_one_the_error_lists() -> None:
    refused = RefusedParams()
    listed = (
        "Unsupported value: 'reasoning_effort' does not support 'max' with this model. "
        "Supported values are: 'low', 'medium', and 'high'."
    )
    for asked, expected in (("max", "high"), ("none", "low"), ("minimal", "low")):
        body = {**BODY, "reasoning_effort": asked}
        fitted = refused.refit("openai", DEP, body, refusal("reasoning_effort", "unsupported_value", listed))
        assert fitted is not None and fitted["reasoning_effort"] == expected, asked
        assert refused.fit("openai", DEP, body)["reasoning_effort"] == expected  # remembered
    unlisted = refused.refit(
        "openai", OTHER, {**BODY, "reasoning_effort": "max"}, refusal("reasoning_effort", "unsupported_value")
    )
    assert unlisted is not None and "reasoning_effort" not in unlisted  # the model's default


def test_a_dropped_effort_leads_to_what_was_refused_without_it() -> None:
    refused = RefusedParams()
    asked = {**BODY, "reasoning_effort": "minimal"}
    without_effort = refused.refit(
        "openai", DEP, asked, refusal("reasoning_effort", code="unsupported_value")
    )
    assert without_effort is not None and "reasoning_effort" not in without_effort
    refused.refit("openai", DEP, without_effort, refusal("temperature"))
    assert refused.fit("openai", DEP, asked) == {"model": "gpt-x", "messages": [], "max_tokens": 9}


def test_what_was_refused_with_tools_is_remembered_for_requests_with_tools_only() -> None:
    """OpenAI refuses an effort with tools on some models: the same effort without tools is fine."""
    refused = RefusedParams()
    tools = [{"type": "function", "function": {"name": "f"}}]
    with_tools = {**BODY, "reasoning_effort": "high", "tools": tools}
    refused.refit("openai", DEP, with_tools, refusal("reasoning_effort", "unsupported_value"))
    assert "reasoning_effort" not in refused.fit("openai", DEP, with_tools)
    plain = {**BODY, "reasoning_effort": "high"}
    assert refused.fit("openai", DEP, plain) is plain
    declined = {**with_tools, "tool_choice": "none"}  # tools offered but not callable: no tools
    assert refused.fit("openai", DEP, declined) is declined
