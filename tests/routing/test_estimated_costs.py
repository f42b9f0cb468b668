"""A route's candidates are priced in bulk (numpy over a kept price table from 8 candidates on):
the figures must be the ones `cost_usd` gives each model, long-prompt bands included; and the
answer lengths the gateway learns per model price them."""

from __future__ import annotations

from typing import Any

from satisfice.catalog import ModelInfo, load_catalog
from satisfice.routing.constraints import Needs, estimated_costs, needs_of
from satisfice.routing.lengths import PRIOR_CALLS, OutputLengths


def each(infos: list[ModelInfo], needs: Needs) -> list[float]:
    return [i.cost_usd(needs.prompt_estimate, needs.expected_output) for i in infos]


def test_bulk_estimates_equal_each_models_cost_exactly() -> None:
    chat = [m for m in load_catalog() if m.kind == "chat" and not m.deprecated]
    banded = [m for m in chat if m.long_prompt is not None]
    assert banded, "the catalog has models priced by prompt length"
    infos = [*chat[:20], *banded]
    band_start = min(m.long_prompt.above_tokens for m in banded if m.long_prompt is not None)
    for words, max_tokens in ((5, None), (300, 50), (band_start // 2 + 1_000, None), (band_start, 4000)):
        body: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": "word " * words}]}
        if max_tokens:
            body["max_tokens"] = max_tokens
        needs = needs_of(body)
        for _ in range(2):  # the second time from the kept table
            assert estimated_costs(infos, needs) == each(infos, needs)
    long_needs = needs_of({"model": "auto", "messages": [{"role": "user", "content": "word " * band_start}]})
    assert long_needs.prompt_estimate > band_start // 2  # the band applies to some: priced per model
    few = infos[:3]
    assert estimated_costs(few, long_needs) == each(few, long_needs)


def test_cost_usd_without_caching_is_the_full_sum() -> None:
    m = load_catalog().lookup("claude-3-5-haiku")[0]
    fast = m.cost_usd(1234, 567)
    assert fast == (1234 * m.input_per_mtok + 567 * m.output_per_mtok) / 1_000_000
    assert m.cost_usd(1234, 567, cache_write_1h_tokens=100) == fast  # 1-hour writes are part of writes
    assert m.cost_usd(1234, 567, cached_tokens=1000) < fast


def test_short_answer_prompts_are_priced_short_whatever_the_case() -> None:
    """A prompt asking for one word or letter is priced at a short answer. The case-insensitive
    regex is skipped when no lower-cased keyword is there; the three characters that match a
    pattern letter without lower-casing to it (long s, dotless i, dotted capital I) must be seen."""
    from satisfice.routing.constraints import DEFAULT_EXPECTED_OUTPUT, SHORT_EXPECTED_OUTPUT

    def expected(text: str) -> int:
        return needs_of({"model": "auto", "messages": [{"role": "user", "content": text}]}).expected_output

    odd = ["\u017fingle letter please", "s\u0130ngle word"]  # match "single" case-insensitively
    short = ["Answer with ONE LETTER.", "Yes or no?", "Q: 2+2?\nAnswer:", *odd]
    long = ["What is the capital of France?", "Tell me about one-piece swimsuits", "onl\u0131 the answer"]
    assert [expected(t) for t in short] == [SHORT_EXPECTED_OUTPUT] * len(short)
    assert [expected(t) for t in long] == [DEFAULT_EXPECTED_OUTPUT] * len(long)


def test_max_tokens_caps_the_assumed_answer_instead_of_being_it() -> None:
    def needs(**kw: Any) -> Needs:
        return needs_of({"model": "auto", "messages": [{"role": "user", "content": "Tell me a story"}], **kw})

    assert needs().expected_output == 256
    assert needs(max_tokens=4096).expected_output == 256  # was priced at 4,096 output tokens
    assert needs(max_completion_tokens=40).expected_output == 40


def test_learned_answer_lengths_price_each_model() -> None:
    chat = [m for m in load_catalog() if m.kind == "chat" and not m.deprecated and m.long_prompt is None]
    verbose, terse = chat[0], chat[1]
    lengths = OutputLengths()
    for _ in range(20):
        lengths.observe(verbose.id, False, 3000)  # a reasoning model's hidden tokens, billed as output
        lengths.observe(terse.id, False, 40)
    lengths.observe(terse.id, True, 2)  # short-answer prompts are kept apart
    shrunk = round((20 * 3000 + PRIOR_CALLS * 256) / (20 + PRIOR_CALLS))
    assert lengths.expected(verbose.id, False, 256) == shrunk
    assert lengths.expected(verbose.id, True, 8) == 8  # never seen on short-answer prompts
    assert lengths.expected(terse.id, True, 8) == round((2 + PRIOR_CALLS * 8) / (1 + PRIOR_CALLS))

    def body(**kw: Any) -> dict[str, Any]:
        return {"model": "auto", "messages": [{"role": "user", "content": "Tell me a story"}], **kw}

    for infos in (chat[:3], chat[:12]):  # per model, and in numpy over the price table
        needs = needs_of(body())
        want = [m.cost_usd(needs.prompt_estimate, lengths.expected(m.id, False, 256)) for m in infos]
        assert estimated_costs(infos, needs, lengths) == want
        assert estimated_costs(infos, needs, lengths)[0] > estimated_costs(infos, needs)[0]
        capped = needs_of(body(max_tokens=500))  # the client's cap caps the learned length too
        want = [
            m.cost_usd(capped.prompt_estimate, min(500, lengths.expected(m.id, False, 256))) for m in infos
        ]
        assert estimated_costs(infos, capped, lengths) == want
    assert estimated_costs(chat[5:15], needs_of(body()), lengths) == estimated_costs(
        chat[5:15], needs_of(body())
    )


def test_answer_lengths_forget_the_oldest_and_bound_the_models() -> None:
    lengths = OutputLengths(size=3, max_keys=2)
    for n in (100, 200, 300, 400):  # the window keeps 200, 300, 400
        lengths.observe("a", False, n)
    assert lengths.expected("a", False, 0) == round(900 / (3 + PRIOR_CALLS))
    lengths.observe("a", False, 0)  # nothing billed (a failed parse): not a length
    assert lengths.expected("a", False, 0) == round(900 / (3 + PRIOR_CALLS))
    lengths.observe("b", False, 10)
    lengths.observe("c", False, 10)  # a third model: the least recently seen goes
    assert lengths.expected("a", False, 7) == 7
