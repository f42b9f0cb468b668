"""trim(): what must stay stays, the result fits (counted with the real tokenizer), tool calls keep
their results, markers are visible, and the input is never modified."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from satisfice.tokens import count_text
from satisfice.trim import LEVELS, TrimSettings, prompt_limit, trim
from tests.trim.helpers import conversation, filler, tokens_of, tool_turn


def _drop(budget: int | None = None, **kw: Any) -> TrimSettings:
    return TrimSettings(enabled=True, level="drop_oldest", budget_tokens=budget, **kw)


def _pairs_valid(messages: list[dict[str, Any]]) -> bool:
    """Every tool result answers a kept call, and every kept call has its result."""
    calls = {c["id"] for m in messages for c in m.get("tool_calls") or ()}
    results = {m["tool_call_id"] for m in messages if m["role"] == "tool"}
    return calls == results


def test_limit_is_the_smaller_of_budget_and_window() -> None:
    assert prompt_limit(_drop(5000), 8192, 1000) == 5000
    assert prompt_limit(_drop(9000), 8192, 1000) == 7192
    assert prompt_limit(_drop(), None, 1000) is None
    assert prompt_limit(_drop(), 4096, 0) == 4096


def test_disabled_changes_nothing() -> None:
    msgs = conversation()
    result = trim(
        msgs, TrimSettings(level="drop_oldest", budget_tokens=500), context_window=None, max_output_tokens=0
    )
    assert result.messages == msgs and result.messages is not msgs
    assert result.actions == () and result.tokens_before == result.tokens_after
    assert not result.fits  # over the budget, and nothing was allowed to change that


def test_fast_path_returns_the_same_messages() -> None:
    msgs = conversation()
    result = trim(msgs, _drop(), context_window=128_000, max_output_tokens=4096)
    assert result.fits and result.actions == () and not result.exact
    assert all(a is b for a, b in zip(result.messages, msgs, strict=True))
    assert result.tokens_before == result.tokens_after >= tokens_of(msgs)  # an upper bound


@pytest.mark.parametrize("budget", [700, 1500, 3000, 6000])
@pytest.mark.parametrize("turns", [2, 6, 15])
def test_system_and_last_user_turn_stay_and_the_result_fits(budget: int, turns: int) -> None:
    msgs = conversation(turns=turns)
    msgs.insert(3, {"role": "system", "content": "Mid-conversation instruction: answer in French."})
    result = trim(msgs, _drop(budget), context_window=None, max_output_tokens=256)
    systems = [m for m in msgs if m["role"] == "system"]
    assert all(s in result.messages for s in systems)  # verbatim
    assert result.messages[-1] == msgs[-1]
    assert result.messages[0] == msgs[0]
    minimal = tokens_of([*systems, msgs[-1]])
    if minimal <= budget - 40:  # room for the minimal conversation and a note: it must fit
        assert result.fits
    if result.fits:
        assert tokens_of(result.messages) <= budget
        assert result.tokens_after <= budget
    assert result.tokens_after >= tokens_of(result.messages)  # counts are never below the real count


def test_respects_the_context_window() -> None:
    msgs = conversation(turns=20, words=250)
    window, out = 4096, 1024
    assert tokens_of(msgs) > window
    result = trim(msgs, _drop(), context_window=window, max_output_tokens=out, model="gpt-4")
    assert result.fits and result.limit == window - out
    assert tokens_of(result.messages) + out <= window
    assert result.messages[-1] == msgs[-1]
    assert any("dropped" in a for a in result.actions)


def test_drop_leaves_a_note_and_drops_oldest_first() -> None:
    msgs = conversation(turns=10)
    result = trim(msgs, _drop(3000), context_window=None, max_output_tokens=0)
    note = result.messages[1]
    assert note["role"] == "system" and note["content"].startswith("[Satisfice dropped ")
    kept_users = [m["content"] for m in result.messages if m["role"] == "user"]
    all_users = [m["content"] for m in msgs if m["role"] == "user"]
    assert kept_users == all_users[-len(kept_users) :]  # a suffix: the oldest went first
    assert len(kept_users) < len(all_users)
    n_dropped = len(msgs) - (len(result.messages) - 1)
    assert f"dropped {n_dropped} earlier messages" in note["content"]


def test_does_not_fit_when_the_last_user_turn_alone_is_too_long() -> None:
    msgs = conversation(turns=4)
    msgs[-1] = {"role": "user", "content": filler(7, 2000)}
    result = trim(msgs, _drop(1000), context_window=None, max_output_tokens=0)
    assert not result.fits
    assert result.messages[0] == msgs[0] and result.messages[-1] == msgs[-1]


def test_tool_calls_and_results_are_kept_or_dropped_together() -> None:
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "Use the tools."}]
    for k in range(8):
        msgs += tool_turn(k, filler(k, 150))
    msgs.append({"role": "user", "content": "Summarise what you found."})
    assert _pairs_valid(msgs)
    for budget in (400, 800, 1500, 2500, 4000):
        result = trim(msgs, _drop(budget), context_window=None, max_output_tokens=0)
        assert result.fits and tokens_of(result.messages) <= budget
        assert _pairs_valid(result.messages), budget


def test_the_current_agent_turn_is_kept_whole() -> None:
    # The last user message is followed by a call and its result: the answer needs both.
    msgs = conversation(turns=6)
    msgs += tool_turn(42, filler(3, 100))[1:3]
    result = trim(msgs, _drop(1000), context_window=None, max_output_tokens=0)
    assert result.fits
    assert result.messages[-3:] == msgs[-3:]
    assert _pairs_valid(result.messages)


def test_long_tool_output_is_cut_with_a_marker_keeping_head_and_tail() -> None:
    lines = [f"line {i}: " + filler(i, 12) for i in range(400)]
    msgs = [{"role": "system", "content": "sys"}, *tool_turn(1, "\n".join(lines))]
    msgs.append({"role": "user", "content": "And?"})
    result = trim(
        msgs,
        TrimSettings(enabled=True, level="tool_outputs", tool_output_max_tokens=300),
        context_window=None,
        max_output_tokens=0,
    )
    out = result.messages[3]["content"]
    assert "tokens cut by Satisfice …]" in out
    assert out.startswith("line 0: ") and out.endswith(lines[-1])
    assert count_text(out) <= 300
    assert result.messages[3]["tool_call_id"] == "call_1"
    assert "cut 1 tool output to 300 tokens" in result.actions
    assert result.tokens_after < result.tokens_before
    short = trim(
        [*msgs[:3], {"role": "tool", "tool_call_id": "call_1", "content": "ok"}, msgs[-1]],
        TrimSettings(enabled=True, level="tool_outputs"),
        context_window=None,
        max_output_tokens=0,
    )
    assert short.actions == ()


def test_identical_messages_are_collapsed_keeping_the_latest() -> None:
    pasted = "Please review this: " + filler(5, 80)
    msgs = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": pasted},
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "ok"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": pasted},
    ]
    result = trim(msgs, TrimSettings(enabled=True, level="dedupe"), context_window=None, max_output_tokens=0)
    assert result.messages[1]["content"].startswith("[Satisfice removed this message")
    assert "later" in result.messages[1]["content"]
    assert result.messages[-1] == msgs[-1]  # the protected copy is the one kept
    assert result.messages[3:5] == msgs[3:5]  # short repeats carry meaning: kept
    assert result.tokens_after < result.tokens_before


def test_repeated_block_is_collapsed_but_never_inside_the_last_user_turn() -> None:
    block = "Traceback (most recent call last): " + filler(9, 90)
    msgs = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": f"First try.\n\n{block}\n\nWhat failed?"},
        {"role": "assistant", "content": f"This part:\n\n{block}\n\nmeans a bad index."},
        {"role": "user", "content": f"Again:\n\n{block}\n\nand again:\n\n{block}"},
    ]
    result = trim(msgs, TrimSettings(enabled=True, level="dedupe"), context_window=None, max_output_tokens=0)
    for i in (1, 2):
        assert block not in result.messages[i]["content"]
        assert "[… repeated block removed by Satisfice" in result.messages[i]["content"]
    assert result.messages[-1] == msgs[-1]
    assert "replaced 2 repeated blocks with a marker" in result.actions


def test_whitespace_keeps_indentation_code_and_images() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": "Be   brief.   \n\n\n\nReally."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "See  this:  \n```\nx  =  1\n    y\n```"}, image],
        },
    ]
    result = trim(
        msgs, TrimSettings(enabled=True, level="whitespace"), context_window=None, max_output_tokens=0
    )
    assert result.messages[0]["content"] == "Be brief.\n\nReally."
    parts = result.messages[1]["content"]
    assert parts[0]["text"] == "See this:\n```\nx  =  1\n    y\n```"
    assert parts[1] == image
    assert result.actions == ("collapsed whitespace in 2 messages",)


def test_a_tool_output_of_several_text_parts_is_cut_to_the_cap_as_a_whole() -> None:
    """Cut part by part, each part kept its own allowance: 464 tokens were left of a 100 cap."""
    parts: list[Any] = [
        {"type": "text", "text": "\n".join(f"row {i}: " + filler(i + k, 12) for i in range(60))}
        for k in range(4)
    ]
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    msgs = [{"role": "system", "content": "sys"}, *tool_turn(1, "x")]
    msgs[3] = {"role": "tool", "tool_call_id": "call_1", "content": [parts[0], image, *parts[1:]]}
    msgs.append({"role": "user", "content": "And?"})
    result = trim(
        msgs,
        TrimSettings(enabled=True, level="tool_outputs", tool_output_max_tokens=100),
        context_window=None,
        max_output_tokens=0,
    )
    out = result.messages[3]["content"]
    assert [p["type"] for p in out] == ["text", "image_url"]
    assert count_text(out[0]["text"]) <= 100 and "tokens cut by Satisfice" in out[0]["text"]
    assert out[0]["text"].startswith("row 0: ") and out[1] == image


def test_a_tool_results_images_belong_to_the_results_not_a_new_turn() -> None:
    """/v1/messages puts a tool_result's screenshot in a user message after the tool messages: read
    as a new turn, it made the user's own request droppable (it survived as 12 quoted words)."""
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    ask = {"role": "user", "content": "Open the settings page and tell me what the banner says."}
    msgs: list[dict[str, Any]] = [{"role": "system", "content": "sys"}]
    for k in range(6):
        msgs += tool_turn(k + 10, filler(k, 300))
    loop: list[dict[str, Any]] = [ask]
    for k in range(3):
        call = {"id": f"shot_{k}", "type": "function", "function": {"name": "screenshot", "arguments": "{}"}}
        loop += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"shot_{k}", "content": "screenshot taken"},
            {"role": "user", "content": [image]},
        ]
    result = trim(
        [*msgs, *loop],
        TrimSettings(enabled=True, level="drop_oldest", budget_tokens=600),
        context_window=None,
        max_output_tokens=0,
    )
    assert result.fits
    assert result.messages[-len(loop) :] == loop  # the request and its whole tool loop stay
    assert len(result.messages) < len(msgs) + len(loop)
    # A loop over the budget is what must stay not fitting (a context error), never a loop that
    # goes on without the request it serves.
    big = [{**m, "content": filler(i, 120)} if m["role"] == "tool" else m for i, m in enumerate(loop)]
    over = trim(
        [*msgs, *big],
        TrimSettings(enabled=True, level="drop_oldest", budget_tokens=300),
        context_window=None,
        max_output_tokens=0,
    )
    assert not over.fits and ask in over.messages


def test_whitespace_keeps_the_strings_of_a_json_tool_output() -> None:
    """Code escaped onto one line inside a JSON string kept its indentation only by luck: runs of
    spaces between words were collapsed inside the string (`    return  1` became ` return 1`)."""
    output = '{"code": "def f():\\n    return  1",   "ok": true}  \n\n\n'
    msgs: list[dict[str, Any]] = [{"role": "tool", "tool_call_id": "c", "content": output}]
    result = trim(
        msgs, TrimSettings(enabled=True, level="whitespace"), context_window=None, max_output_tokens=0
    )
    assert result.messages[0]["content"] == '{"code": "def f():\\n    return  1",   "ok": true}'
    prose = [{"role": "tool", "tool_call_id": "c", "content": "{not json}  and   more"}]
    collapsed = trim(
        prose, TrimSettings(enabled=True, level="whitespace"), context_window=None, max_output_tokens=0
    )
    assert collapsed.messages[0]["content"] == "{not json} and more"


@pytest.mark.parametrize("level", LEVELS)
def test_input_is_never_modified(level: str) -> None:
    msgs: list[dict[str, Any]] = conversation(turns=6)
    msgs[2]["content"] = msgs[2]["content"] + "   \n\n\n\n" + msgs[2]["content"]
    msgs += tool_turn(3, "\n".join(filler(i, 20) for i in range(300)))
    msgs += [{"role": "user", "content": msgs[1]["content"]}, {"role": "assistant", "content": "x"}]
    msgs.append({"role": "user", "content": [{"type": "text", "text": "last  one"}, {"type": "image_url"}]})
    snapshot = copy.deepcopy(msgs)
    result = trim(
        msgs,
        TrimSettings(enabled=True, level=level, budget_tokens=1500, tool_output_max_tokens=200),
        context_window=None,
        max_output_tokens=0,
    )
    assert msgs == snapshot
    assert result.messages is not msgs and result.actions
    assert result.messages[-1]["content"][1] == {"type": "image_url"}


def test_no_user_message_keeps_the_last_message() -> None:
    msgs = [{"role": "system", "content": "sys"}]
    msgs += [{"role": "assistant", "content": filler(i, 200)} for i in range(6)]
    result = trim(msgs, _drop(600), context_window=None, max_output_tokens=0)
    assert result.fits and result.messages[-1] == msgs[-1] and result.messages[0] == msgs[0]
    assert tokens_of(result.messages) <= 600
