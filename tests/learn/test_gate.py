"""The promotion gate: replay logged decisions with both sets of statistics; promote only if not worse."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from satisfice.learn import Learner, MemoryLearnStore, SQLiteLearnStore, gate
from satisfice.learn.checks import render_checks
from satisfice.learn.gate import half_of
from satisfice.learn.records import GateResult
from satisfice.learn.store import LearnStore
from satisfice.routing.knob import choose
from tests.learn.helpers import CANDS, Clock, decision, learner, logged_events, make_store

EASY, HARD = (0.72, 0.95), (0.65, 0.9)


def log_pooled_cluster(lrn: Learner) -> None:
    """One cluster holding easy prompts (cheap answers them) and hard ones (cheap fails, seen when a
    cascade tried it first and escalated). Cheap did better than predicted over the cluster (40 of
    50 right where 35.3 were expected), so the candidate statistics shift its predictions up by
    0.41 in logit space: the hard prompts' 0.65 becomes 0.74 >= the 0.7 target, and they would go
    to cheap, whose logged outcomes there are failures."""
    for i in range(40):
        lrn.record_decision(decision(f"e{i}", EASY))
        lrn.observe(f"e{i}", 1.0, "verify")
    for i in range(10):
        lrn.record_decision(decision(f"h{i}", HARD))
        lrn.observe(f"h{i}", 0.0, "verify")
        lrn.observe(f"h{i}", 1.0, "verify", model="strong")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_gate_blocks_statistics_that_route_worse(kind: str, tmp_path: Path) -> None:
    store = make_store(kind, tmp_path)
    lrn = learner(store, Clock())
    log_pooled_cluster(lrn)
    result = lrn.run_gate()
    assert not result.promoted
    assert result.n == 50 and result.changed == 10 and result.method == "replay"
    assert result.old_value == pytest.approx(1.0) and result.new_value == pytest.approx(0.8)
    assert result.blocked_segments == 1 and "blocked (worse): r/0 -0.2000 on 50" in result.reason
    assert lrn.adjust("r", 0, CANDS, list(HARD)) == pytest.approx(HARD)  # routing unchanged
    assert store.promoted() == (0, {})
    assert store.checks() == [result]
    store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_gate_promotes_statistics_that_route_better(kind: str, tmp_path: Path) -> None:
    store = make_store(kind, tmp_path)
    lrn = learner(store, Clock())
    for i in range(30):  # plain auto requests: cheap was chosen and failed; strong was never tried
        lrn.record_decision(decision(f"a{i}"))
        lrn.observe(f"a{i}", 0.0, "upstream_error" if i % 3 == 0 else "feedback")
    result = lrn.run_gate()
    # strong was never observed on these prompts: it is credited with the predictor's own 0.9
    assert result.promoted and result.method == "dr" and result.changed == 30
    assert result.old_value == pytest.approx(0.0) and result.new_value == pytest.approx(0.9)
    adjusted = lrn.adjust("r", 0, CANDS, [0.75, 0.9])
    assert adjusted[0] == pytest.approx(7.5 / 40)
    assert store.checks()[-1] == result and store.promoted()[0] == 1 and store.promoted()[1]
    store.close()


def test_gate_needs_enough_outcomes_and_honours_propensity() -> None:
    store = make_store("memory", Path())
    lrn = learner(store, Clock(), min_checked=20)
    for i in range(5):
        lrn.record_decision(decision(f"a{i}"))
        lrn.observe(f"a{i}", 0.0, "verify")
    result = lrn.run_gate()
    assert not result.promoted and "too few" in result.reason and result.n == 5
    # Exploration: strong was picked at random (p = 0.5) and did well; the logged reward is
    # reweighted (doubly robust) rather than taken at face value.
    for i in range(20):
        lrn.record_decision(decision(f"x{i}", model="strong", propensity=0.5))
        lrn.observe(f"x{i}", 1.0, "verify")
    result = lrn.run_gate()
    assert result.method == "dr" and result.n == 25 and result.promoted

    def r_hat(p: float, successes: int, n: int) -> float:
        """The prediction p (also the outcomes' p̄) updated with the other half's n outcomes: the
        Beta(10 p, 10 (1 - p)) posterior's logit shift, weighted n / 5 below min_evidence 5."""
        rate = (10 * p + successes) / (10 + n)
        shift = math.log(rate / (1 - rate)) - math.log(p / (1 - p))
        return 1 / (1 + math.exp(-(math.log(p / (1 - p)) + min(n / 5, 1.0) * shift)))

    # Old routing picks cheap everywhere: 0 observed on the a-requests; on the x-ones cheap is
    # unobserved, estimated from the other half's failures of it (fewer than 5: shifted in part).
    cheap_per_half = [sum(half_of(f"a{i}") == h for i in range(5)) for h in (0, 1)]
    assert min(cheap_per_half) > 0 and max(cheap_per_half) < 5  # the partial weight is exercised
    want_old = sum(r_hat(0.75, 0, cheap_per_half[1 - half_of(f"x{i}")]) for i in range(20))
    assert result.old_value == pytest.approx(want_old / 25)
    # New routing picks strong. Its direct estimate on a request is 0.9 updated with strong's
    # outcomes (all 1.0) on the other half of the x-requests; on the x-ones the logged reward
    # corrects it (doubly robust): r + (1 - r) / 0.5, clipped to the reward's range [0, 1].
    per_half = [sum(half_of(f"x{i}") == h for i in range(20)) for h in (0, 1)]

    def strong(rid: str) -> float:
        n = per_half[1 - half_of(rid)]
        return r_hat(0.9, n, n)

    want = sum(strong(f"a{i}") for i in range(5))
    want += sum(min(strong(f"x{i}") + (1 - strong(f"x{i}")) / 0.5, 1.0) for i in range(20))
    assert result.new_value == pytest.approx(want / 25)


def test_an_unobserved_pick_is_judged_by_other_requests_outcomes_not_by_the_prediction() -> None:
    """The predictor underrates strong (0.5); requests that did reach strong show it right every time.
    Learning corrects the rating; the gate must judge the correction by those logged outcomes, not by
    the prediction it corrects (with which it would be estimated 0.5 where cheap scored 0.65)."""
    store = make_store("memory", Path())
    lrn = learner(store, Clock())
    preds = (0.75, 0.5)
    for i in range(40):  # cheap was chosen; right on 65 % of these requests
        lrn.record_decision(decision(f"c{i}", preds))
        lrn.observe(f"c{i}", 1.0 if i % 20 < 13 else 0.0, "feedback")
    for i in range(20):  # strong was chosen (a stricter knob then); right on all of them
        lrn.record_decision(decision(f"s{i}", preds, model="strong"))
        lrn.observe(f"s{i}", 1.0, "feedback")
    # Candidate statistics: cheap (7.5 + 26) / 50 = 0.67 < 0.7, strong (5 + 20) / 30 = 0.83: strong.
    assert lrn.adjust("r", 0, CANDS, list(preds)) == pytest.approx(preds)  # nothing promoted yet
    result = lrn.run_gate()
    assert result.promoted and result.changed == 60 and result.method == "dr"
    assert result.new_value > result.old_value + 0.1
    assert lrn.adjust("r", 0, CANDS, list(preds))[1] == pytest.approx(25 / 30)
    # Another route has nothing promoted: its prompt's cluster (it tokenises) is not worked out.
    asked: list[str] = []

    def cluster_of(route: str) -> int:
        asked.append(route)
        return 0

    assert lrn.adjust("other", lambda: cluster_of("other"), CANDS, list(preds)) == pytest.approx(preds)
    assert lrn.adjust("r", lambda: cluster_of("r"), CANDS, list(preds))[1] == pytest.approx(25 / 30)
    assert asked == ["r"]


def test_checks_and_promotion_persist_across_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "learn.db")
    clock = Clock()
    store: LearnStore = SQLiteLearnStore(path)
    lrn = learner(store, clock)
    log_pooled_cluster(lrn)
    blocked = lrn.run_gate()
    for i in range(30):
        lrn.record_decision(decision(f"a{i}", cluster=3))
        lrn.observe(f"a{i}", 0.0, "verify")
    clock.now += 10
    promoted = lrn.run_gate()  # cluster 3 improves; cluster 0 stays as it was
    assert not blocked.promoted and promoted.promoted
    assert promoted.promoted_segments == 1 and promoted.blocked_segments == 1  # cluster 0 still worse
    store.close()

    store = SQLiteLearnStore(path)
    assert store.checks() == [blocked, promoted]
    assert store.decision("h3") == decision("h3", HARD)  # from the database, not the in-memory window
    again = learner(store, clock)
    failures = 30 * 0.5 ** (10 / 1000)  # decayed over the 10 s since the outcomes
    assert again.adjust("r", 3, CANDS, [0.75, 0.9])[0] == pytest.approx(7.5 / (10 + failures))
    assert again.adjust("r", 0, CANDS, list(HARD)) == pytest.approx(HARD)  # never promoted
    assert again.observe("e1", 0.0, "feedback")
    store.close()


def test_gate_reward_charges_cost_for_a_wtp_knob() -> None:
    store = make_store("memory", Path())
    lrn = learner(store, Clock())
    for i in range(20):  # wtp=0.02: cheap costs 0.05 quality points, strong 0.5
        lrn.record_decision(decision(f"w{i}", knob="wtp=0.02"))
        lrn.observe(f"w{i}", 0.0, "verify")
    result = lrn.run_gate()
    assert result.promoted and result.changed == 20
    assert result.old_value == pytest.approx(0.0 - 0.05) and result.new_value == pytest.approx(0.9 - 0.5)


def test_routing_changes_only_after_the_check_is_on_record() -> None:
    """A reader that sees routing move (the e2e test's `report --gate`) must find the check that
    moved it: the check is logged in the same step as the statistics are promoted, and the learner
    swaps them in after that step, never before."""
    seen: list[list[float]] = []

    class WatchingStore(MemoryLearnStore):
        def promote(self, stats: Any, check: GateResult, based_on: int) -> bool:
            seen.append(lrn.adjust("r", 0, CANDS, [0.75, 0.9]))  # routing as the check is logged
            return super().promote(stats, check, based_on)

    lrn = learner(WatchingStore(), Clock())
    for i in range(30):
        lrn.record_decision(decision(f"a{i}"))
        lrn.observe(f"a{i}", 0.0, "feedback")
    result = lrn.run_gate()
    assert result.promoted and lrn.store.checks() == [result]
    assert seen == [pytest.approx([0.75, 0.9])]  # still the old predictions while logging
    assert lrn.adjust("r", 0, CANDS, [0.75, 0.9])[0] < 0.75  # and the promoted ones after


def test_the_gate_replays_thin_evidence_as_routing_then_serves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four failures of cheap (evidence 4 < min_evidence 5) shift it in part: 0.75 -> 0.58, below
    the 0.7 target. The gate replays with that partial shift and routing serves the same one (under
    the old threshold both ignored it and nothing changed)."""
    replayed: list[list[float]] = []

    def watching_choose(predicted: Any, *args: Any) -> int:
        replayed.append([float(v) for v in predicted])
        return choose(predicted, *args)

    monkeypatch.setattr(gate, "choose", watching_choose)
    lrn = Learner(MemoryLearnStore(), half_life_s=1000.0, min_checked=4, clock=Clock())
    for i in range(4):
        lrn.record_decision(decision(f"a{i}"))
        lrn.observe(f"a{i}", 0.0, "feedback")
    result = lrn.run_gate()
    assert result.promoted and result.changed == 4
    served = lrn.adjust("r", 0, CANDS, [0.75, 0.9])
    shift = 0.8 * (math.log(0.75 * 10 / 14 / (1 - 0.75 * 10 / 14)) - math.log(3.0))  # weight 4 / 5
    assert served == pytest.approx([1 / (1 + math.exp(-(math.log(3.0) + shift))), 0.9])
    assert served[0] < 0.7
    # The gate chose with the old statistics (none: raw) and the new ones, decision by decision.
    assert replayed[1::2] == [pytest.approx(served)] * 4
    assert replayed[0::2] == [pytest.approx([0.75, 0.9])] * 4


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_prune_forgets_old_decisions_but_keeps_statistics(kind: str, tmp_path: Path) -> None:
    store = make_store(kind, tmp_path)
    lrn = learner(store, Clock())
    lrn.record_decision(decision("old", ts=10.0))
    lrn.record_decision(decision("new", ts=2000.0))
    lrn.observe("old", 1.0, "verify")
    lrn.observe("new", 1.0, "verify")
    store.prune(1000.0)
    store.flush()
    assert [d.request_id for d, _ in logged_events(store, 0.0, 10)] == ["new"]
    assert ("r", 0, "cheap") in store.stats()
    assert store.decision("old") is None and not lrn.observe("old", 0.0, "feedback")
    store.close()


def test_choosing_the_logged_model_again_is_worth_what_its_cascade_answered() -> None:
    """The cheap answer failed verification and the cascade escalated; the user liked strong's
    answer. The logged routing (cheap first) was worth that answer at both models' cost, not the
    cheap model's failed verdict."""
    store = make_store("memory", Path())
    lrn = learner(store, Clock())
    for i in range(20):
        lrn.record_decision(decision(f"c{i}", knob="wtp=0.02"))
        lrn.observe(f"c{i}", 0.0, "verify")  # cheap failed
        lrn.record_answer(f"c{i}", "strong")  # the cascade answered with strong
        lrn.observe(f"c{i}", 1.0, "feedback")  # credited to strong, the answering model
    result = lrn.run_gate()
    # wtp=0.02: cheap costs 0.05 quality points, strong 0.5. Old routing (cheap first) led to
    # strong's answer at both costs; the learned statistics start on strong: its answer, its cost.
    assert result.old_value == pytest.approx(1.0 - 0.05 - 0.5)
    assert result.new_value == pytest.approx(1.0 - 0.5)
    assert result.promoted and result.method == "replay"


def test_the_replay_weighs_decisions_by_age_as_the_statistics_do() -> None:
    """Ten days of good cheap answers, then three days of bad ones: the decayed statistics say
    cheap now fails; a replay giving every day the same weight judged routing away from it worse
    (0.882 against 0.85) and blocked it."""
    day = 86400.0
    clock = Clock(100 * day)
    lrn = Learner(MemoryLearnStore(), half_life_s=7 * day, min_checked=20, clock=clock)
    preds, t0 = (0.75, 0.85), clock.now  # quality=0.7 picks cheap
    for i in range(300):
        clock.now = t0 + i * (10 * day / 300)
        lrn.record_decision(decision(f"g{i}", preds, ts=clock.now))
        lrn.observe(f"g{i}", 1.0, "feedback")
    for i in range(40):
        clock.now = t0 + 24 * day + i * (3 * day / 40)
        lrn.record_decision(decision(f"b{i}", preds, ts=clock.now))
        lrn.observe(f"b{i}", 0.0, "feedback")
    clock.now = t0 + 27 * day
    result = lrn.run_gate()
    assert result.promoted, result.reason
    assert lrn.adjust("r", 0, CANDS, list(preds))[0] < 0.7  # cheap no longer meets the target


def test_the_gate_report_says_which_statistics_each_value_uses() -> None:
    """One segment promoted and one blocked read as "promoted 0.952 -> 0.805" under old/new; the
    columns now say the second value is every segment's new statistics, blocked ones included."""
    check = GateResult(
        True, 0.952, 0.805, 100, "dr", "promoted: r/0 +0.01 on 50; blocked (worse): r/1", 0.0, 40
    )
    head, row = render_checks([check]).splitlines()
    assert head.split()[3:6] == ["in", "use", "all"] and "new" in head
    assert row.split()[2:6] == ["promoted", "0.952", "0.805", "100"]


def _fail_cluster(lrn: Learner, cluster: int, prefix: str) -> None:
    """30 requests where cheap was chosen and failed: statistics that pass the gate."""
    for i in range(30):
        lrn.record_decision(decision(f"{prefix}{i}", cluster=cluster))
        lrn.observe(f"{prefix}{i}", 0.0, "verify")


def test_workers_share_one_promoted_set_and_never_overwrite_each_others_promotions(tmp_path: Path) -> None:
    """Two workers (two connections to one file, as `serve --workers 2` has): what one promotes,
    the other routes with after a refresh, and the other's later promotion keeps it. Each worker
    used to merge into its own in-memory snapshot and save that whole, dropping the first one's."""
    path, clock = str(tmp_path / "learn.db"), Clock()
    store_a, store_b = SQLiteLearnStore(path), SQLiteLearnStore(path)
    a, b = learner(store_a, clock), learner(store_b, clock)  # both start with nothing promoted
    _fail_cluster(a, 1, "a")
    assert a.run_gate().promoted_segments == 1
    moved = a.adjust("r", 1, CANDS, [0.75, 0.9])
    assert moved[0] < 0.5
    assert b.adjust("r", 1, CANDS, [0.75, 0.9]) == pytest.approx([0.75, 0.9])  # not yet seen
    b.refresh()
    assert b.adjust("r", 1, CANDS, [0.75, 0.9]) == pytest.approx(moved)
    _fail_cluster(b, 2, "b")
    clock.now += 1
    assert b.run_gate().promoted_segments == 1
    version, promoted = store_a.promoted()
    assert version == 2 and {k[1] for k in promoted} == {1, 2}  # cluster 1 survived b's promotion
    a.refresh()
    assert a.adjust("r", 2, CANDS, [0.75, 0.9]) == pytest.approx(b.adjust("r", 2, CANDS, [0.75, 0.9]))
    assert a.adjust("r", 2, CANDS, [0.75, 0.9])[0] < 0.5
    store_a.close()
    store_b.close()


def test_a_promotion_made_stale_by_another_worker_is_checked_again_from_theirs(tmp_path: Path) -> None:
    """Another worker promotes while this check runs: this one's write is refused (the version moved),
    and the check runs again from the other's promoted set, keeping it."""
    path, clock = str(tmp_path / "learn.db"), Clock()
    store_a, store_b = SQLiteLearnStore(path), SQLiteLearnStore(path)
    a, b = learner(store_a, clock), learner(store_b, clock)
    _fail_cluster(a, 1, "a")
    _fail_cluster(b, 2, "b")
    promote = store_a.promote
    calls: list[int] = []

    def overtaken(stats: Any, check: GateResult, based_on: int) -> bool:
        calls.append(based_on)
        if len(calls) == 1:
            assert b.run_gate().promoted  # b promotes both clusters in between
        return promote(stats, check, based_on)

    store_a.promote = overtaken  # type: ignore[method-assign]
    result = a.run_gate()
    # Refused at version 0; checked again from b's version 1, which already holds both clusters:
    # nothing is left to promote, and a routes with b's statistics.
    assert calls == [0] and not result.promoted and "no changed statistics" in result.reason
    version, promoted = store_b.promoted()
    assert version == 1 and {k[1] for k in promoted} == {1, 2}
    assert [c.promoted for c in store_b.checks()] == [True, False]
    assert a.adjust("r", 1, CANDS, [0.75, 0.9]) == pytest.approx(b.adjust("r", 1, CANDS, [0.75, 0.9]))
    assert a.adjust("r", 1, CANDS, [0.75, 0.9])[0] < 0.5
    store_a.close()
    store_b.close()


def test_only_one_worker_claims_each_gate_check(tmp_path: Path) -> None:
    path = str(tmp_path / "learn.db")
    stores = [SQLiteLearnStore(path), SQLiteLearnStore(path)]
    assert stores[0].claim_gate(1000.0, 60.0)
    assert not stores[1].claim_gate(1000.5, 60.0) and not stores[0].claim_gate(1059.0, 60.0)
    assert stores[1].claim_gate(1060.0, 60.0)
    memory = MemoryLearnStore()
    assert memory.claim_gate(0.0, 10.0) and not memory.claim_gate(5.0, 10.0) and memory.claim_gate(10.0, 10.0)
    # A claim from before the clock stepped back (more than an interval ahead) is stale, or no check
    # would run until the clock caught up.
    for store in (stores[0], memory):
        assert store.claim_gate(10_000.0, 60.0)
        assert store.claim_gate(1200.0, 60.0) and not store.claim_gate(1210.0, 60.0)
    for s in stores:
        s.close()


def test_tick_runs_the_gate_only_when_claimed_and_always_picks_up_promotions(tmp_path: Path) -> None:
    path, clock = str(tmp_path / "learn.db"), Clock()
    store_a, store_b = SQLiteLearnStore(path), SQLiteLearnStore(path)
    a, b = learner(store_a, clock), learner(store_b, clock)
    _fail_cluster(a, 1, "a")
    first = a.tick(60.0)
    assert first is not None and first.promoted
    assert b.tick(60.0) is None  # a claimed this interval's check ...
    assert b.adjust("r", 1, CANDS, [0.75, 0.9]) == pytest.approx(a.adjust("r", 1, CANDS, [0.75, 0.9]))
    assert b.adjust("r", 1, CANDS, [0.75, 0.9])[0] < 0.5  # ... and b routes with what it promoted
    clock.now += 60
    assert b.tick(60.0) is not None and a.tick(60.0) is None
    assert len(store_a.checks()) == 2
    store_a.close()
    store_b.close()


def test_a_check_always_overtaken_gives_up_and_says_so() -> None:
    class Overtaken(MemoryLearnStore):
        def promote(self, stats: Any, check: GateResult, based_on: int) -> bool:
            return False  # another worker promoted every time

    store = Overtaken()
    lrn = learner(store, Clock())
    _fail_cluster(lrn, 1, "a")
    result = lrn.run_gate()
    assert not result.promoted and result.promoted_segments == 0
    assert result.reason.startswith("other workers kept promoting meanwhile")
    assert store.checks() == [result]
    assert lrn.adjust("r", 1, CANDS, [0.75, 0.9]) == pytest.approx([0.75, 0.9])


def test_an_in_memory_sqlite_store_gates_on_its_one_database() -> None:
    """`learning.path: ":memory:"` is one database per connection: the gate must read the writer's."""
    store = SQLiteLearnStore(":memory:")
    lrn = learner(store, Clock())
    _fail_cluster(lrn, 1, "a")
    result = lrn.run_gate()
    assert result.promoted and result.n == 30 and store.checks() == [result]
    assert lrn.adjust("r", 1, CANDS, [0.75, 0.9])[0] < 0.5
    store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_replay_reads_every_decision_with_its_own_outcomes_across_chunks(
    kind: str, tmp_path: Path
) -> None:
    """SQLite streams the gate's decisions 500 at a time and reads each chunk's outcomes apart:
    1,201 decisions (three chunks, the last of one) each keep their own outcomes, oldest first,
    and the oldest beyond the limit are left out."""
    store = make_store(kind, tmp_path)
    lrn = learner(store, Clock())
    n = 1201
    for i in range(n + 3):
        lrn.record_decision(decision(f"d{i}", ts=1000.0 + i))
        lrn.observe(f"d{i}", (i % 100) / 100, "verify")
        if i % 7 == 0:
            lrn.observe(f"d{i}", 1.0, "feedback", model="strong")
    store.flush()
    events = logged_events(store, 0.0, n)
    assert [d.request_id for d, _ in events] == [f"d{i}" for i in range(3, n + 3)]
    for d, outcomes in events:
        i = int(d.request_id[1:])
        assert all(o.request_id == d.request_id for o in outcomes)
        assert sorted((o.model, o.score) for o in outcomes) == sorted(
            [("cheap", (i % 100) / 100)] + ([("strong", 1.0)] if i % 7 == 0 else [])
        )
    with store.logged(0.0, n) as logged:
        assert sorted(o.request_id for o in logged.outcomes()) == sorted(
            o.request_id for _, os in events for o in os
        )
    store.close()


def test_a_replay_snapshot_does_not_see_what_is_written_while_it_is_read(tmp_path: Path) -> None:
    """A gate check reads the outcomes, then the decisions: both from one snapshot, though this
    worker's writer commits a new decision and outcome in between."""
    store = make_store("sqlite", tmp_path)
    lrn = learner(store, Clock())
    for rid in ("a", "b"):
        lrn.record_decision(decision(rid))
        lrn.observe(rid, 1.0, "verify")
    store.flush()
    with store.logged(0.0, 10) as logged:
        assert sorted(o.request_id for o in logged.outcomes()) == ["a", "b"]
        lrn.record_decision(decision("c", ts=1500.0))
        lrn.observe("c", 0.0, "verify")
        store.flush()
        assert [d.request_id for d, _ in logged.events()] == ["a", "b"]
    assert [d.request_id for d, _ in logged_events(store, 0.0, 10)] == ["a", "b", "c"]
    store.close()
