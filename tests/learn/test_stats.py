"""Decayed Beta statistics, the posterior `adjust` applies, and outcomes folding into statistics."""

from __future__ import annotations

from pathlib import Path

import pytest

from satisfice.learn import BetaStat, Learner, MemoryLearnStore
from tests.learn.helpers import CANDS, Clock, decision, learner, make_store


def test_outcomes_decay_with_the_half_life() -> None:
    clock = Clock(1000.0)
    store = MemoryLearnStore()
    lrn = learner(store, clock)
    lrn.record_decision(decision("a", ts=1000.0))
    assert lrn.observe("a", 1.0, "verify")
    st = store.stats()[("r", 0, "cheap")]
    assert st.decayed(1000.0, 1000.0) == pytest.approx((1.0, 0.0))
    assert st.decayed(2000.0, 1000.0) == pytest.approx((0.5, 0.0))  # one half-life later
    assert st.decayed(3000.0, 1000.0) == pytest.approx((0.25, 0.0))
    # A request made a half-life later weighs twice the old one, whatever order they are reported in.
    clock.now = 2000.0
    lrn.record_decision(decision("b", ts=2000.0))
    lrn.observe("b", 0.0, "verify")
    st = store.stats()[("r", 0, "cheap")]
    assert st.decayed(2000.0, 1000.0) == pytest.approx((0.5, 1.0))
    # Late feedback on the old request counts as evidence from its time, so already halved.
    lrn.observe("a", 0.25, "feedback")
    assert store.stats()[("r", 0, "cheap")].decayed(2000.0, 1000.0) == pytest.approx((0.625, 1.375))


def test_a_repeated_outcome_replaces_the_earlier_one() -> None:
    store = MemoryLearnStore()
    lrn = learner(store, Clock())
    lrn.record_decision(decision("a"))
    lrn.observe("a", 1.0, "feedback")
    lrn.observe("a", 0.0, "feedback")  # the client changed its mind
    assert store.stats()[("r", 0, "cheap")].decayed(1000.0, 1000.0) == pytest.approx((0.0, 1.0))


def test_posterior_mean_and_minimum_evidence() -> None:
    store = MemoryLearnStore()
    store.save_promoted(
        {("r", 0, "cheap"): BetaStat(8.0, 2.0, 1000.0), ("r", 0, "strong"): BetaStat(1.0, 3.0, 1000.0)}
    )
    clock = Clock(1000.0)
    lrn = Learner(store, half_life_s=1000.0, prior_strength=10.0, min_evidence=5.0, clock=clock)
    out = lrn.adjust("r", 0, CANDS, [0.5, 0.9])
    # cheap: Beta(5, 5) prior + 8 successes, 2 failures -> 13 / 20; strong: 4 < min_evidence, unchanged
    assert out == pytest.approx([0.65, 0.9])
    assert lrn.adjust("r", 1, CANDS, [0.5, 0.9]) == pytest.approx([0.5, 0.9])  # other cluster
    assert lrn.adjust("other", 0, CANDS, [0.5, 0.9]) == pytest.approx([0.5, 0.9])
    clock.now = 2000.0  # evidence halves to 5: still enough -> (5 + 4) / 15
    assert lrn.adjust("r", 0, CANDS, [0.5, 0.9])[0] == pytest.approx(0.6)
    clock.now = 2001.0  # just under 5
    assert lrn.adjust("r", 0, CANDS, [0.5, 0.9])[0] == pytest.approx(0.5)


def test_adjust_uses_only_promoted_statistics() -> None:
    clock = Clock()
    store = MemoryLearnStore()
    lrn = learner(store, clock)
    for i in range(20):  # cascades: the cheap answer failed verification, the strong one passed
        lrn.record_decision(decision(f"q{i}"))
        lrn.observe(f"q{i}", 0.0, "verify")
        lrn.observe(f"q{i}", 1.0, "verify", model="strong")
    raw = [0.75, 0.9]
    assert lrn.adjust("r", 0, CANDS, raw) == pytest.approx(raw)  # candidate statistics only, so far
    assert store.stats()[("r", 0, "cheap")].f == pytest.approx(20.0)
    result = lrn.run_gate()
    assert result.promoted and result.method == "replay" and result.changed == 20
    shifted = lrn.adjust("r", 0, CANDS, raw)
    assert shifted[0] == pytest.approx(7.5 / 30) and shifted[1] == pytest.approx((9 + 20) / 30)
    # New outcomes move the candidate statistics but not routing until the next promotion.
    for i in range(20, 40):
        lrn.record_decision(decision(f"q{i}"))
        lrn.observe(f"q{i}", 1.0, "verify")
    assert lrn.adjust("r", 0, CANDS, raw) == pytest.approx(shifted)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_feedback_changes_statistics(kind: str, tmp_path: Path) -> None:
    store = make_store(kind, tmp_path)
    lrn = learner(store, Clock())
    lrn.record_decision(decision("a"))
    lrn.record_decision(decision("b"))
    assert lrn.observe("a", 0.8, "feedback")
    lrn.record_answer("b", "strong")  # a cascade escalated: the client's answer came from strong
    assert lrn.observe("b", 0.0, "feedback")
    assert not lrn.observe("nope", 1.0, "feedback")
    store.flush()
    stats = store.stats()
    assert stats[("r", 0, "cheap")].decayed(1000.0, 1000.0) == pytest.approx((0.8, 0.2))
    assert stats[("r", 0, "strong")].decayed(1000.0, 1000.0) == pytest.approx((0.0, 1.0))
    with pytest.raises(ValueError):
        lrn.observe("a", 1.5, "feedback")
    with pytest.raises(ValueError):
        lrn.observe("a", 1.0, "gossip")
    store.close()
