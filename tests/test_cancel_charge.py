"""The charge of a cancelled call: prompt, plus received or estimated output, capped."""

from __future__ import annotations

import pytest

from satisfice.catalog.model_info import parse_entry
from satisfice.ledger.cancelled import OutputSpeeds, charge_cancelled

INFO = parse_entry(
    {"id": "m", "provider": "p", "input_per_mtok": 1.0, "output_per_mtok": 4.0, "context_window": 8000}, "m"
)


def test_output_speed_is_the_ratio_of_sums() -> None:
    speeds = OutputSpeeds(size=2)
    assert speeds.tokens_in("p/m", 1.0) is None
    speeds.observe("p/m", 100, 1.0)
    speeds.observe("p/m", 300, 1.0)  # 400 tokens in 2 s: 200 per second
    assert speeds.tokens_in("p/m", 0.5) == 100
    speeds.observe("p/m", 0, 5.0)  # an empty answer says nothing of speed
    speeds.observe("p/m", 100, 3.0)  # the oldest sample leaves: (300 + 100) / 4 s
    assert speeds.tokens_in("p/m", 1.0) == 100
    assert speeds.tokens_in("p/other", 1.0) is None


def test_charge_prefers_received_output_and_caps_estimates() -> None:
    prompt_only = charge_cancelled(INFO, 1000, received_tokens=None, estimated_tokens=None, cap=None)
    assert prompt_only.cost_usd == pytest.approx(1000 * 1.0 / 1e6) and prompt_only.output_tokens == 0
    assert "prompt only" in prompt_only.how
    got = charge_cancelled(INFO, 1000, received_tokens=30, estimated_tokens=500, cap=10)
    assert got.output_tokens == 30 and "received" in got.how  # what was seen is a fact, not capped
    est = charge_cancelled(INFO, 1000, received_tokens=None, estimated_tokens=500, cap=200)
    assert est.output_tokens == 200 and "estimated" in est.how
    assert est.cost_usd == pytest.approx((1000 * 1.0 + 200 * 4.0) / 1e6)
    assert charge_cancelled(None, 1000, received_tokens=5, estimated_tokens=None, cap=None).cost_usd == 0.0


def test_output_speeds_keep_the_most_recently_used_deployments_only() -> None:
    speeds = OutputSpeeds(size=4, max_keys=3)
    for name in ("a", "b", "c"):
        speeds.observe(name, 100, 1.0)
    speeds.observe("a", 100, 1.0)  # a is now the most recent
    speeds.observe("d", 50, 1.0)  # one over: b, the least recent, goes
    assert [speeds.tokens_in(k, 1.0) for k in ("a", "b", "c", "d")] == [100, None, 100, 50]
