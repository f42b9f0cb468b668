"""`evaluate()` end to end on tiny datasets whose every figure is worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from satisfice.data.jsonl import read_jsonl
from satisfice.evals import EvalError, evaluate
from satisfice.evals.replay import build_replay
from satisfice.evals.sweep import wtp_grid
from tests.evals.helpers import (
    STRONG,
    WEAK,
    ModelPredictor,
    RecordingFit,
    TablePredictor,
    row,
    two_model_predictor,
    two_model_rows,
    write_jsonl,
)

A, B, C = "mistral-7b-instruct", "gpt-3.5-turbo-1106", "gpt-4-1106-preview"


def test_two_model_metrics_by_hand(tmp_path: Path) -> None:
    """The example of test_metrics.py replayed for real: weak predicted p_w = .9 .2 .7 .4 .1, strong .95,
    so a share knob sends p5, p2, p4, p3, p1 to the strong model in that order."""
    ds = read_jsonl(write_jsonl(tmp_path / "two.jsonl", two_model_rows()))
    res = evaluate(ds, two_model_predictor())
    assert res["kind"] == "two-model"
    assert (res["strong_model"], res["weak_model"]) == (STRONG, WEAK)
    assert res["n_prompts"] == 5
    assert res["apgr"] == pytest.approx(0.6)
    assert res["cpt50"] == pytest.approx(0.4)
    assert res["cpt80"] == pytest.approx(0.52)
    assert res["share_for_95"] == pytest.approx(0.56)
    base = res["baselines"]
    assert base["random"]["apgr"] == pytest.approx(0.5)
    assert base["random"]["share_for_95"] == pytest.approx(0.9)
    assert base["oracle"]["apgr"] == pytest.approx(0.8)
    # oracle picks: p1 W, p2 S, p3 W, p4 S, p5 W (nobody correct -> the cheaper):
    # quality 0.8 at (3 x 0.001 + 2 x 0.01) / 5 dollars per prompt
    assert base["oracle"]["quality"] == pytest.approx(0.8)
    assert base["oracle"]["cost_per_1k"] == pytest.approx(4.6)
    assert base["models"][WEAK] == pytest.approx({"quality": 0.4, "cost_per_1k": 1.0})
    # share=0.5 calibrates to the smallest target sending >= 50%: p5, p2, p4 -> 3/5 strong
    half = next(p for p in res["points"] if p["knob"] == "share=0.5")
    assert half["reported"]
    assert half["strong_share"] == pytest.approx(0.6)
    assert half["model_shares"] == pytest.approx({WEAK: 0.4, STRONG: 0.6})
    assert half["quality"] == pytest.approx(0.8)
    assert half["cost_per_1k"] == pytest.approx((2 * 0.001 + 3 * 0.01) / 5 * 1000)
    assert len(res["points"]) == 101
    assert {"knob", "quality", "cost_per_1k", "strong_share", "model_shares"} <= set(half)


def n_model_rows() -> list[dict[str, object]]:
    """A $0.001 < B $0.002 < C $0.010 per call.   p1: all right; p2: B, C; p3: C only; p4: nobody."""
    truth = {"p1": (1, 1, 1), "p2": (0, 1, 1), "p3": (0, 0, 1), "p4": (0, 0, 0)}
    return [
        row(rid, {A: (float(a), 0.001), B: (float(b), 0.002), C: (float(c), 0.010)})
        for rid, (a, b, c) in truth.items()
    ]


def test_n_model_by_hand(tmp_path: Path) -> None:
    ds = read_jsonl(write_jsonl(tmp_path / "three.jsonl", n_model_rows()))
    perfect = TablePredictor({r.id: {m: o.quality for m, o in r.outcomes.items()} for r in ds.records})
    res = evaluate(ds, perfect)
    assert res["kind"] == "n-model"
    assert res["strong_model"] == C
    base = res["baselines"]
    assert base["models"][A] == pytest.approx({"quality": 0.25, "cost_per_1k": 1.0})
    assert base["models"][B] == pytest.approx({"quality": 0.5, "cost_per_1k": 2.0})
    assert base["models"][C] == pytest.approx({"quality": 0.75, "cost_per_1k": 10.0})
    assert base["random"]["quality"] == pytest.approx(0.5)
    assert base["random"]["cost_per_1k"] == pytest.approx(13 / 3)
    # oracle: p1 A, p2 B, p3 C, p4 A (nobody right -> the cheapest): 0.75 at (1 + 2 + 10 + 1) / 4
    assert base["oracle"]["quality"] == pytest.approx(0.75)
    assert base["oracle"]["cost_per_1k"] == pytest.approx(3.5)
    pts = {p["knob"]: p for p in res["points"]}
    # a perfect predictor at quality=0.5 is the oracle
    assert pts["quality=0.5"]["quality"] == pytest.approx(0.75)
    assert pts["quality=0.5"]["cost_per_1k"] == pytest.approx(3.5)
    assert pts["quality=0.5"]["model_shares"] == pytest.approx({A: 0.5, B: 0.25, C: 0.25})
    # wtp=0.003: penalties 1/3, 2/3, 10/3 -> p1 A (2/3 beats 1/3), p2 B (1/3), p3 A (-1/3 beats -2/3), p4 A
    assert pts["wtp=0.003"]["quality"] == pytest.approx(0.5)
    assert pts["wtp=0.003"]["cost_per_1k"] == pytest.approx(1.25)
    assert wtp_grid(np.array([0.001, 0.002, 0.01])) == [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
    assert res["cheapest_at_95"]["cost_per_1k"] == pytest.approx(3.5)  # 0.75 >= 0.95 x 0.75


def test_cross_validation_never_scores_a_training_prompt(tmp_path: Path) -> None:
    rows = [row(f"q{i}", {WEAK: (float(i % 2), 0.001), STRONG: (1.0, 0.01)}) for i in range(12)]
    ds = read_jsonl(write_jsonl(tmp_path / "cv.jsonl", rows))
    fit = RecordingFit()
    res = evaluate(ds, "learned", folds=3, seed=7, fit=fit)
    assert res["protocol"] == "3-fold CV by prompt text, seed 7"
    assert len(fit.trained) == 3
    scored: list[str] = []
    for trained, pred in zip(fit.trained, fit.predictors, strict=True):
        assert trained.isdisjoint(pred.seen)
        assert len(trained) + len(pred.seen) == 12
        scored += pred.seen
    assert sorted(scored) == sorted(f"q{i}" for i in range(12))


def test_a_prompt_text_under_two_ids_is_never_both_trained_on_and_scored(tmp_path: Path) -> None:
    """MMLU holds 105 prompt texts under several ids, RouterBench's MBPP 2 across its split: the
    folds are made of texts, and a split's training leaves out the texts it scores."""
    rows = [row(f"q{i}", {WEAK: (float(i % 2), 0.001), STRONG: (1.0, 0.01)}) for i in range(12)]
    for i in range(0, 12, 3):  # four ids whose message repeats another id's text
        rows[i]["messages"] = [{"role": "user", "content": f"q{i + 1}"}]
    ds = read_jsonl(write_jsonl(tmp_path / "twins.jsonl", rows))
    fit = RecordingFit()
    evaluate(ds, "learned", folds=3, seed=1, fit=fit)
    for trained, pred in zip(fit.trained, fit.predictors, strict=True):
        assert trained.isdisjoint(pred.seen)
    for i in range(0, 12, 3):
        rows[i]["split"], rows[i + 1]["split"] = "train", "test"
    for r in rows:
        r.setdefault("split", "train")
    split = read_jsonl(write_jsonl(tmp_path / "twins-split.jsonl", rows))
    fit = RecordingFit()
    evaluate(split, "learned", fit=fit)
    assert fit.trained[0].isdisjoint(fit.predictors[0].seen)
    assert len(fit.trained[0]) == 4  # 8 train ids, of which 4 repeat a scored text


def test_split_trains_on_train_and_scores_test(tmp_path: Path) -> None:
    rows = [
        row(f"s{i}", {WEAK: (float(i % 2), 0.001), STRONG: (1.0, 0.01)}, "train" if i < 6 else "test")
        for i in range(9)
    ]
    ds = read_jsonl(write_jsonl(tmp_path / "split.jsonl", rows))
    fit = RecordingFit()
    res = evaluate(ds, "learned", fit=fit)
    assert res["protocol"].startswith("split: split train→test (6 train, 3 scored)")
    assert fit.trained == [{f"s{i}" for i in range(6)}]
    assert sorted(fit.predictors[0].seen) == ["s6", "s7", "s8"]
    assert res["n_prompts"] == 3
    assert res["folds"] is None  # a split, no cross-validation
    cv = evaluate(ds, "learned", folds=3, fit=RecordingFit())
    assert cv["protocol"] == "3-fold CV by prompt text, seed 0" and cv["folds"] == 3
    no_split = read_jsonl(write_jsonl(tmp_path / "plain.jsonl", [{**r, "split": None} for r in rows]))
    assert evaluate(no_split, "learned", fit=RecordingFit())["folds"] == 5  # the default, as used
    # Records with another split ("validation") or none are neither trained on nor scored: said so.
    rows += [row(f"v{i}", {WEAK: (0.0, 0.001), STRONG: (1.0, 0.01)}, "validation") for i in range(2)]
    rows.append(row("n0", {WEAK: (0.0, 0.001), STRONG: (1.0, 0.01)}))
    res = evaluate(read_jsonl(write_jsonl(tmp_path / "more.jsonl", rows)), "learned", fit=RecordingFit())
    assert res["protocol"].startswith("split: more train→test (6 train, 3 scored)")
    assert "3 records whose split is neither train nor test are left out" in res["protocol"]
    assert res["n_prompts"] == 3
    # Written "Train" / " TEST": the same split. Only test lines: no split to use, and it says so.
    recased = {"train": "Train", "test": " TEST"}
    cased = [{**r, "split": recased.get(str(r.get("split")), r.get("split"))} for r in rows]
    res = evaluate(read_jsonl(write_jsonl(tmp_path / "cased.jsonl", cased)), "learned", fit=RecordingFit())
    assert res["protocol"].startswith("split: cased train→test (6 train, 3 scored)")
    tests_only = [{**r, "split": "test"} for r in rows]
    res = evaluate(read_jsonl(write_jsonl(tmp_path / "t.jsonl", tests_only)), "learned", fit=RecordingFit())
    assert res["folds"] == 5 and res["protocol"].endswith(
        "; the data's split has no train lines, so it is not used"
    )


def test_train_on_other_data_leaves_overlap_out(tmp_path: Path) -> None:
    ds = read_jsonl(write_jsonl(tmp_path / "target.jsonl", two_model_rows()))
    other = [row(f"o{i}", {WEAK: (0.0, None), STRONG: (1.0, None)}) for i in range(4)]
    other.append(row("p3", {WEAK: (1.0, None), STRONG: (1.0, None)}))  # also in the scored data
    path = write_jsonl(tmp_path / "other.jsonl", other)
    fit = RecordingFit()
    res = evaluate(ds, "learned", train_on=[str(path)], fit=fit)
    assert fit.trained == [{"o0", "o1", "o2", "o3"}]
    assert res["protocol"] == f"trained on {path} (4 prompts, 1 also in target left out)"
    assert res["n_prompts"] == 5


def test_learned_artifact_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared dataset the artifact's record names is flagged as trained on; other data gets a
    caution (it may hold those prompts), not the claim that the artifact saw it."""
    from satisfice.evals import protocols
    from satisfice.evals.report import render_text

    monkeypatch.setattr(protocols, "load_router", lambda name, seed=0: two_model_predictor())
    assert {"mmlu", "gsm8k", "arena-bench"} <= set(protocols.artifact_datasets())
    ds = read_jsonl(write_jsonl(tmp_path / "two.jsonl", two_model_rows()))
    res = evaluate(ds, "learned-artifact")
    assert (res["may_have_seen_data"], res["trained_on_data"]) == (True, False)
    assert "MAY HAVE SEEN THIS DATA" not in res["protocol"]
    assert res["protocol"].startswith("learned artifact as is, trained on routerbench, mmlu")
    assert "held out only if these prompts are not from those datasets" in res["protocol"]
    assert "CAUTION" in render_text(res) and "WARNING" not in render_text(res)
    assert res["apgr"] == pytest.approx(0.6)
    replay = build_replay(ds)
    shared = protocols.score(
        replay.records, replay.infos, "learned-artifact", dataset="gsm8k", shared="gsm8k"
    )
    assert shared.trained_on_data and "TRAINED ON gsm8k (not a held-out score)" in shared.protocol
    assert "WARNING" in render_text({**res, "trained_on_data": True})


def test_pairwise_agreement_by_hand(tmp_path: Path) -> None:
    """r1 C beats B, r2 B beats A, r3 tie C/A (left out), r4 C beats A. Predicted C .8, B .5, A .5:
    r1 right (1), r2 a predicted tie (0.5), r4 right (1): 2.5 / 3. Dearer wins: C > B > A in price,
    all three right. Catalog priors: C .85, B .70, A .601: all three right too."""
    rows = [
        row("r1", {C: (1.0, None), B: (0.0, None)}),
        row("r2", {B: (1.0, None), A: (0.0, None)}),
        row("r3", {C: (0.5, None), A: (0.5, None)}),
        row("r4", {A: (0.0, None), C: (1.0, None)}),
    ]
    ds = read_jsonl(write_jsonl(tmp_path / "votes.jsonl", rows))
    assert ds.pairwise
    res = evaluate(ds, ModelPredictor({C: 0.8, B: 0.5, A: 0.5}))
    assert res["kind"] == "pairwise"
    assert (res["n_decisive"], res["n_ties"]) == (3, 1)
    assert res["agreement"] == pytest.approx(2.5 / 3)
    assert res["baselines"] == pytest.approx({"random": 0.5, "dearer_wins": 1.0, "prior_wins": 1.0})


def test_sparse_data_is_replayed_on_the_models_that_keep_most_prompts(tmp_path: Path) -> None:
    rows = [row("x1", {A: (1.0, 0.1)}), row("x2", {B: (1.0, 0.1), C: (0.0, 0.1)}), row("x3", {C: (1.0, 0.1)})]
    ds = read_jsonl(write_jsonl(tmp_path / "sparse.jsonl", rows))
    res = evaluate(ds, ModelPredictor({A: 0.5, B: 0.5, C: 0.5}))
    assert (res["models"], res["n_prompts"], res["n_dropped_incomplete"]) == ([B, C], 1, 2)
    assert "2 of 3 prompts dropped" in res["notes"][-1]
    with pytest.raises(EvalError, match="cannot be replayed"):
        evaluate(ds, ModelPredictor({A: 0.5, B: 0.5, C: 0.5}), models=[A, B])


def test_incomplete_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    rows = [*two_model_rows(), row("p6", {WEAK: (1.0, 0.001)})]
    ds = read_jsonl(write_jsonl(tmp_path / "gaps.jsonl", rows))
    res = evaluate(ds, two_model_predictor())
    assert (res["n_prompts"], res["n_dropped_incomplete"]) == (5, 1)
    assert res["apgr"] == pytest.approx(0.6)


def test_costs_from_catalog_when_the_data_has_none(tmp_path: Path) -> None:
    rows = [row(f"c{i}", {WEAK: (1.0, None), STRONG: (1.0, None)}) for i in range(3)]
    ds = read_jsonl(write_jsonl(tmp_path / "nocost.jsonl", rows))
    res = evaluate(ds, ModelPredictor({WEAK: 0.5, STRONG: 0.9}))
    assert res["cost_source"].startswith("catalog price x tokens")
    gpt4, mixtral = res["baselines"]["models"][STRONG], res["baselines"]["models"][WEAK]
    # 256 completion tokens at $30/M alone are $7.68 per 1,000 prompts; at $0.6/M $0.15
    assert 7.68 < gpt4["cost_per_1k"] < 8.0
    assert 0.1536 < mixtral["cost_per_1k"] < 0.17


def test_an_empty_recorded_answer_costs_no_completion_tokens(tmp_path: Path) -> None:
    """The gateway bills an empty answer 0 output tokens; the replay guessed 256 for it, as for a
    missing one."""
    from satisfice.evals.replay import build_replay
    from satisfice.tokens import count_prompt

    rows = [row(f"c{i}", {WEAK: (0.0, None), STRONG: (1.0, None)}) for i in range(2)]
    for r in rows:
        r["outcomes"][WEAK]["response"] = ""
    replay = build_replay(read_jsonl(write_jsonl(tmp_path / "empty.jsonl", rows)))
    info = replay.infos[replay.models.index(WEAK)]
    prompt = count_prompt({"messages": rows[0]["messages"]}, WEAK)
    assert replay.cost[0, replay.models.index(WEAK)] == pytest.approx(info.cost_usd(prompt, 0))


def test_the_routers_typical_costs_come_from_the_train_split(tmp_path: Path) -> None:
    """Only the train split's calls price the router's decisions: the scored calls' costs (their
    answer lengths) are outcomes."""
    rows = [
        row(
            f"c{i}",
            {WEAK: (1.0, 0.001 if i < 4 else 0.009), STRONG: (1.0, 0.01)},
            "train" if i < 4 else "test",
        )
        for i in range(6)
    ]
    res = evaluate(read_jsonl(write_jsonl(tmp_path / "costs.jsonl", rows)), "learned", fit=RecordingFit())
    assert res["decision_costs"] == pytest.approx({WEAK: 0.001, STRONG: 0.01})
