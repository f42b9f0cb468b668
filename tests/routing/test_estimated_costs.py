"""A route's candidates are priced in bulk (numpy over a kept price table from 8 candidates on):
the figures must be the ones `cost_usd` gives each model, long-prompt bands included."""

from __future__ import annotations

from typing import Any

from satisfice.catalog import load_catalog
from satisfice.routing.constraints import estimated_cost, estimated_costs, needs_of


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
            assert estimated_costs(infos, needs) == [estimated_cost(i, needs) for i in infos]
    long_needs = needs_of({"model": "auto", "messages": [{"role": "user", "content": "word " * band_start}]})
    assert long_needs.prompt_estimate > band_start // 2  # the band applies to some: priced per model
    few = infos[:3]
    assert estimated_costs(few, long_needs) == [estimated_cost(i, long_needs) for i in few]


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
