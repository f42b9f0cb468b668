"""Decayed Beta statistics, the posterior `adjust` applies, and outcomes folding into statistics."""

from __future__ import annotations

import dataclasses
import logging
import math
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from satisfice.learn import BetaStat, Learner, MemoryLearnStore, SQLiteLearnStore
from satisfice.learn.records import GateResult, Outcome, evidence_weight, posterior
from satisfice.learn.sqlite import _STOP
from tests.learn.helpers import CANDS, Clock, decision, learner, logged_events, make_store


def old_table(folder: Path, table: str, row: tuple[object, ...]) -> Path:
    """A learning store as an older version wrote it: one table (its definition) holding one row."""
    path = folder / "old.db"
    with sqlite3.connect(path) as old:
        old.execute(f"CREATE TABLE {table}")
        old.execute(f"INSERT INTO {table.split()[0]} VALUES ({', '.join('?' * len(row))})", row)
    old.close()
    return path


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
    # Late feedback on an old request counts as evidence from its time, so already halved.
    lrn.record_decision(decision("c", ts=1000.0))
    lrn.observe("c", 0.25, "feedback")
    assert store.stats()[("r", 0, "cheap")].decayed(2000.0, 1000.0) == pytest.approx((0.625, 1.375))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_feedback_outranks_the_verdict_on_the_same_answer(kind: str, tmp_path: Path) -> None:
    store = make_store(kind, tmp_path)
    lrn = learner(store, Clock())
    for i in range(30):
        lrn.record_decision(decision(f"a{i}"))
        lrn.observe(f"a{i}", 1.0, "verify")  # the verifier passed the cheap answer
        lrn.observe(f"a{i}", 0.0, "feedback")  # the user says it was wrong
    lrn.record_decision(decision("b"))
    lrn.observe("b", 0.0, "feedback")
    lrn.observe("b", 1.0, "verify")  # a verdict after the feedback does not count either
    store.flush()
    assert store.stats()[("r", 0, "cheap")].decayed(1000.0, 1000.0) == pytest.approx((0.0, 31.0))
    logged = {
        d.request_id: sorted((o.source, o.counted) for o in os) for d, os in logged_events(store, 0.0, 100)
    }
    assert logged["a3"] == logged["b"] == [("feedback", True), ("verify", False)]
    # The gate replays the user's word too: the cheap picks were worth 0, not the 0.5 of a mean.
    result = lrn.run_gate()
    assert result.old_value == pytest.approx(0.0) and result.promoted
    store.close()


def test_a_repeated_outcome_replaces_the_earlier_one() -> None:
    store = MemoryLearnStore()
    lrn = learner(store, Clock())
    lrn.record_decision(decision("a"))
    lrn.observe("a", 1.0, "feedback")
    lrn.observe("a", 0.0, "feedback")  # the client changed its mind
    assert store.stats()[("r", 0, "cheap")].decayed(1000.0, 1000.0) == pytest.approx((0.0, 1.0))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_an_earlier_outcome_written_late_does_not_replace_a_later_one(kind: str, tmp_path: Path) -> None:
    """Two workers took a client's 0.1 and then its 0.9 for one request; the second worker's writer
    committed first. The 0.9 stands (the 0.1 had replaced it, in 10-45 of 300 requests)."""
    store = make_store(kind, tmp_path)
    store.save_decision(decision("a"))
    later = Outcome("a", "r", 0, "cheap", "feedback", 0.9, 1000.0, 1002.0)
    store.add_outcome(later, 1e9)
    store.add_outcome(dataclasses.replace(later, score=0.1, observed_at=1001.0), 1e9)
    store.flush()
    assert store.stats()[("r", 0, "cheap")].decayed(1000.0, 1e9) == pytest.approx((0.9, 0.1))
    assert [o.score for _, os in logged_events(store, 0.0, 10) for o in os] == [0.9]
    store.add_outcome(
        dataclasses.replace(later, score=0.3, observed_at=1002.0), 1e9
    )  # same time: the later write
    store.flush()
    assert store.stats()[("r", 0, "cheap")].decayed(1000.0, 1e9) == pytest.approx((0.3, 0.7))
    store.close()


def test_posterior_mean_and_evidence_weight() -> None:
    store = MemoryLearnStore()
    assert store.promote(
        {("r", 0, "cheap"): BetaStat(8.0, 2.0, 1000.0), ("r", 0, "strong"): BetaStat(1.0, 3.0, 1000.0)},
        GateResult(True, 0.0, 0.0, 0, "replay", "set by the test"),
        based_on=0,
    )
    clock = Clock(1000.0)
    lrn = Learner(store, half_life_s=1000.0, prior_strength=10.0, min_evidence=5.0, clock=clock)
    out = lrn.adjust("r", 0, CANDS, [0.5, 0.9])
    # cheap: Beta(5, 5) prior + 8 successes, 2 failures -> 13 / 20; strong: Beta(9, 1) + 1, 3 -> 10 / 14,
    # but 4 outcomes are under min_evidence 5: 4 / 5 of the way from 0.9
    assert out == pytest.approx([0.65, 0.9 + 0.8 * (10 / 14 - 0.9)])
    assert lrn.adjust("r", 1, CANDS, [0.5, 0.9]) == pytest.approx([0.5, 0.9])  # other cluster
    assert lrn.adjust("other", 0, CANDS, [0.5, 0.9]) == pytest.approx([0.5, 0.9])
    clock.now = 2000.0  # evidence halves to 5: in full -> (5 + 4) / 15
    assert lrn.adjust("r", 0, CANDS, [0.5, 0.9])[0] == pytest.approx(0.6)
    clock.now = 2001.0  # just under 5: barely less (the threshold used to drop it to 0.5 here)
    assert lrn.adjust("r", 0, CANDS, [0.5, 0.9])[0] == pytest.approx(0.6, abs=2e-4)
    clock.now = 1000.0 + 1000.0 * 40  # evidence ~1e-11: the correction has faded to nothing
    assert lrn.adjust("r", 0, CANDS, [0.5, 0.9]) == pytest.approx([0.5, 0.9])


@pytest.mark.parametrize("with_expected", [True, False])
def test_a_correction_fades_continuously_across_min_evidence(with_expected: bool) -> None:
    """No step where the decayed evidence crosses min_evidence: just above and just below it the
    adjusted quality is the same to within the decay's own change; as the evidence fades to nothing
    the quality returns to the raw prediction monotonically, in small steps."""
    # 12 of 20 right where the predictor expected 0.9 (p̄ known) or predicted 0.9 (older statistics)
    stat = BetaStat(12.0, 8.0, 0.0, 18.0 if with_expected else math.nan)
    raw = np.array([0.9])

    def adjusted(evidence: float) -> float:
        now = math.log2(20.0 / evidence)  # half_life 1: decays the 20 outcomes to `evidence`
        return float(posterior(raw, [stat], now=now, half_life=1.0, prior_strength=10.0, min_evidence=5.0)[0])

    above, below = adjusted(5.0 * (1 + 1e-4)), adjusted(5.0 * (1 - 1e-4))
    assert 0.9 - above > 0.05  # the correction at the threshold is large ...
    assert abs(above - below) < 1e-4  # ... and has no step there (a hard switch jumps 0.9 - above)
    fading = [adjusted(n) for n in np.geomspace(20.0, 1e-6, 400)]
    steps = np.diff(fading)
    assert steps.min() > -1e-12 and steps.max() < 0.01  # back toward 0.9 all the way, in small steps
    assert fading[0] < 0.8 and fading[-1] == pytest.approx(0.9, abs=1e-6)


def test_evidence_weight() -> None:
    assert [evidence_weight(n, 5.0) for n in (0.0, 1.0, 2.5, 5.0, 50.0)] == [0.0, 0.2, 0.5, 1.0, 1.0]
    assert evidence_weight(0.01, 0.0) == 1.0  # min_evidence 0: every outcome in full, as before


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
    # strong was only reached by escalation: its passes are replayed by the gate but not counted
    assert shifted[0] == pytest.approx(7.5 / 30) and shifted[1] == pytest.approx(0.9)
    assert ("r", 0, "strong") not in store.stats()
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
    # b's feedback is strong's (it answered) and is kept for the gate, but strong was not the chosen
    # model: only prompts the cheap one failed reach it, so its statistic is not moved.
    assert ("r", 0, "strong") not in stats
    (b,) = [o for d, os in logged_events(store, 0.0, 10) if d.request_id == "b" for o in os]
    assert (b.model, b.score, b.counted) == ("strong", 0.0, False)
    with pytest.raises(ValueError):
        lrn.observe("a", 1.5, "feedback")
    with pytest.raises(ValueError):
        lrn.observe("a", 1.0, "gossip")
    store.close()


def test_a_store_written_before_counted_outcomes_reads_them_as_counted(tmp_path: Path) -> None:
    path = old_table(  # the outcomes table as it was before `counted`
        tmp_path,
        "outcomes (request_id TEXT NOT NULL, model TEXT NOT NULL, source TEXT NOT NULL, "
        "route TEXT NOT NULL, cluster INTEGER NOT NULL, score REAL NOT NULL, ts REAL NOT NULL, "
        "observed_at REAL NOT NULL, PRIMARY KEY (request_id, model, source))",
        ("a", "cheap", "verify", "r", 0, 1.0, 1000.0, 1000.0),
    )
    store = SQLiteLearnStore(str(path))
    store.save_decision(decision("a"))
    store.flush()
    ((d, (o,)),) = logged_events(store, 0.0, 10)
    assert d.request_id == "a" and o.counted and o.score == 1.0
    store.close()


def test_a_segment_shift_keeps_the_ranking_of_prompts_within_it() -> None:
    """Outcomes that beat what the predictor expected (8 of 10 right where it expected 5) shift every
    prompt of the segment by one logit step; a prompt predicted at the segment's mean lands on the
    shrunk success rate, and harder prompts stay below easier ones."""
    stat = BetaStat(8.0, 2.0, 1000.0, 5.0)  # p̄ = 0.5; rate (10 · 0.5 + 8) / 20 = 0.65
    out = posterior(
        np.array([0.3, 0.5, 0.7]), [stat] * 3, now=1000.0, half_life=1000.0, prior_strength=10.0,
        min_evidence=5.0,
    )  # fmt: skip
    shift = math.log(0.65 / 0.35)
    want = [1 / (1 + math.exp(-(math.log(p / (1 - p)) + shift))) for p in (0.3, 0.5, 0.7)]
    assert out == pytest.approx(want)
    assert out[1] == pytest.approx(0.65) and out[0] < out[1] < out[2]
    # Without the predictions (statistics older than them): the prior centres on each prediction.
    old = posterior(
        np.array([0.3, 0.5]), [BetaStat(8.0, 2.0, 1000.0)] * 2, now=1000.0, half_life=1000.0,
        prior_strength=10.0, min_evidence=5.0,
    )  # fmt: skip
    assert old == pytest.approx([(3 + 8) / 20, (5 + 8) / 20])


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_outcomes_carry_the_prediction_they_are_judged_against(kind: str, tmp_path: Path) -> None:
    store = make_store(kind, tmp_path)
    lrn = learner(store, Clock())
    lrn.record_decision(decision("a", (0.6, 0.9)))
    lrn.record_decision(decision("b", (0.8, 0.9)))
    lrn.observe("a", 1.0, "feedback")
    lrn.observe("b", 0.0, "verify")
    lrn.observe("b", 1.0, "verify", model="strong")
    store.flush()
    st = store.stats()[("r", 0, "cheap")]
    assert st.mean_prediction() == pytest.approx(0.7)  # (0.6 + 0.8) / 2, decayed alike
    logged = {(o.request_id, o.model): o.predicted for _, os in logged_events(store, 0.0, 10) for o in os}
    assert logged == {("a", "cheap"): 0.6, ("b", "cheap"): 0.8, ("b", "strong"): 0.9}
    store.close()


def test_a_store_written_before_predictions_were_kept_falls_back(tmp_path: Path) -> None:
    path = old_table(  # the stats table as it was before `e`
        tmp_path,
        "stats (route TEXT NOT NULL, cluster INTEGER NOT NULL, model TEXT NOT NULL, "
        "s REAL NOT NULL, f REAL NOT NULL, t REAL NOT NULL, PRIMARY KEY (route, cluster, model))",
        ("r", 0, "cheap", 8.0, 2.0, 1000.0),
    )
    store = SQLiteLearnStore(str(path))
    lrn = learner(store, Clock())
    lrn.record_decision(decision("a"))
    lrn.observe("a", 1.0, "feedback")  # a new outcome does not make the old sum known
    store.flush()
    st = store.stats()[("r", 0, "cheap")]
    assert (st.s, st.f) == (9.0, 2.0) and math.isnan(st.mean_prediction())
    store.close()


def test_two_workers_sharing_one_store_lose_no_outcome(tmp_path: Path) -> None:
    """`serve --workers N`: each worker has its own store on one file. Each outcome is a
    read-modify-write of its statistics row; a deferred transaction read before taking the write
    lock, and one worker's update overwrote the other's (~30 % lost under load)."""
    path = str(tmp_path / "learn.db")
    stores = [SQLiteLearnStore(path, batch=8), SQLiteLearnStore(path, batch=8)]
    n = 400
    for i in range(n):
        stores[i % 2].save_decision(decision(f"r{i}"))
    for s in stores:
        s.flush()

    def feed(k: int) -> None:
        for i in range(k, n, 2):
            stores[k].add_outcome(Outcome(f"r{i}", "r", 0, "cheap", "feedback", 1.0, 1000.0, 1000.0), 1e9)
            if i % 16 == k:
                time.sleep(0.001)  # let the two writer threads interleave their batches

    threads = [threading.Thread(target=feed, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.flush()
    assert stores[0].stats()[("r", 0, "cheap")].s == pytest.approx(n)
    for s in stores:
        s.close()


def test_a_flush_queued_behind_close_returns_when_the_writer_stops(tmp_path: Path) -> None:
    """A gate check flushing while the server stops queued its flush after the writer's stop: it was
    never answered and held the process 30 s."""
    store = SQLiteLearnStore(str(tmp_path / "learn.db"))
    with store._db:  # the writer takes the next write and waits here
        store._queue.put(lambda conn: None)
        time.sleep(0.2)
        store._queue.put(_STOP)  # what close() queues
        flusher = threading.Thread(target=store.flush)
        flusher.start()  # the writer is still alive: the flush queues behind the stop
        time.sleep(0.2)
    flusher.join(timeout=5)
    assert not flusher.is_alive(), "the flush waited on a writer that had stopped"


def test_failing_learning_store_writes_are_reported_once_and_cleared(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing store logged a traceback per write and /health said ok; now /health's problem
    names it (one log line), and it clears once writes work again."""
    store = SQLiteLearnStore(str(tmp_path / "learn.db"))
    side = sqlite3.connect(tmp_path / "learn.db")
    side.execute("ALTER TABLE decisions RENAME TO elsewhere")  # every decision write now fails
    side.commit()
    with caplog.at_level(logging.WARNING, logger="satisfice.learn"):
        for i in range(3):
            store.save_decision(decision(f"d{i}"))
            store.flush()
        problem = store.problem()
        side.execute("ALTER TABLE elsewhere RENAME TO decisions")
        side.commit()
        store.save_decision(decision("ok"))
        store.flush()
    assert problem is not None and "learning store writes are failing" in problem
    assert store.problem() is None
    failed = [r for r in caplog.records if "learn store write failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is None
    assert MemoryLearnStore().problem() is None
    store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_decisions_no_outcome_reached_are_forgotten_after_the_feedback_window(
    kind: str, tmp_path: Path
) -> None:
    """Most decisions never get an outcome; kept for the whole retention, they grew the store by
    ~130 GB a month at 100 requests/s. Those with an outcome stay for the gate's replay."""
    day = 86400.0
    clock = Clock(100 * day)
    store = make_store(kind, tmp_path)
    lrn = Learner(store, half_life_s=7 * day, feedback_window_s=2 * day, clock=clock)
    lrn.record_decision(decision("scored", ts=clock.now))
    lrn.observe("scored", 1.0, "feedback")
    lrn.record_decision(decision("silent", ts=clock.now))
    lrn.record_decision(decision("recent", ts=clock.now + 2.5 * day))
    clock.now += 3 * day
    lrn.run_gate()  # prunes
    store.flush()
    assert store.decision("silent") is None
    assert store.decision("scored") is not None and store.decision("recent") is not None
    store.close()


def test_the_gate_reading_the_store_does_not_hold_back_this_workers_writes(tmp_path: Path) -> None:
    """The gate reads up to 20,000 decisions (~0.4 s) on its own connection: the writer commits
    meanwhile. It shared the writer's lock, so feedback another worker routed here waited past its
    lookup window and got a 404."""
    path = str(tmp_path / "learn.db")
    store, other = SQLiteLearnStore(path), SQLiteLearnStore(path)
    with store._gate_lock:  # the gate, mid-read
        store._gate_conn.execute("BEGIN")
        store._gate_conn.execute("SELECT count(*) FROM decisions").fetchone()
        store.save_decision(decision("fresh"))
        store.flush()
        assert other.decision("fresh") == decision("fresh")  # committed while the gate reads
        store._gate_conn.execute("COMMIT")
    store.close()
    other.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_gate_checks_older_than_the_retention_are_forgotten(kind: str, tmp_path: Path) -> None:
    """One check per gate interval was kept for good (a soak added 11 rows a minute)."""
    day = 86400.0
    clock = Clock(100 * day)
    store = make_store(kind, tmp_path)
    lrn = Learner(store, half_life_s=7 * day, retention_s=30 * day, clock=clock)
    first = lrn.run_gate()
    clock.now += 29 * day
    second = lrn.run_gate()
    store.flush()
    assert store.checks() == [first, second]
    clock.now += 2 * day  # the first is now 31 days old
    third = lrn.run_gate()
    store.flush()
    assert store.checks() == [second, third]
    store.close()
