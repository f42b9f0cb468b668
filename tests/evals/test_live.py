"""`satisfice eval --live`: tiny canonical fixtures replayed through the real gateway on loopback."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from satisfice.evals import add_eval_parser, live
from tests.evals.helpers import write_jsonl

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MIX, GPT35, GPT4 = "mixtral-8x7b-instruct", "gpt-3.5-turbo-1106", "gpt-4-1106-preview"
BASE_COST = {MIX: 0.0002, GPT35: 0.0006, GPT4: 0.005}
TOPICS = (
    "What is 12 plus 30? Answer with the number.",
    "Write a Python function that reverses a linked list.",
    "Translate 'good night' into Spanish.",
    "Prove that there are infinitely many primes.",
    "Which planet is closest to the sun?\nA) Venus\nB) Mercury\nC) Mars\nAnswer:",
    "Summarise the causes of the French Revolution in two sentences.",
    "Solve for x: 3x + 7 = 25. Show each step.",
    "Name three sorting algorithms and their worst-case complexity.",
)


def quality(i: int, model: str) -> float:
    return {MIX: float(i % 2), GPT35: float(i % 3 != 0), GPT4: float(i != 5)}[model]


def cost(i: int, model: str) -> float:
    return BASE_COST[model] * (1 + i / 10)


def fixture(tmp_path: Path, models: Sequence[str] = (MIX, GPT35, GPT4)) -> Path:
    rows = [
        {
            "id": f"q{i}",
            "split": "train" if i < 5 else "test",
            "messages": [{"role": "user", "content": text}],
            "outcomes": {
                m: {"quality": quality(i, m), "cost_usd": cost(i, m), "response": f"[{m}] answer {i}"}
                for m in models
            },
        }
        for i, text in enumerate(TOPICS)
    ]
    return write_jsonl(tmp_path / "tiny.jsonl", rows)


def run(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="satisfice")
    add_eval_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What each gateway run answered, with the ledger row the gateway wrote for it."""
    seen: list[dict[str, Any]] = []
    real = live._serve

    async def spy(*args: Any, **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        got = await real(*args, **kw)
        seen.extend(got[0])
        return got

    monkeypatch.setattr(live, "_serve", spy)
    return seen


def test_prior_router_end_to_end(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    served: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # nothing of the run may land here (a learning store would leak into the next)
    out = tmp_path / "out"
    argv = ["eval", "--live", "--dataset", str(fixture(tmp_path)), "--router", "prior"]
    assert run([*argv, "--json", "--out", str(out), "--concurrency", "4"]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert res["live"] is True and res["kind"] == "n-model" and res["router"] == "prior"
    assert res["protocol"] == "no training (prior): all prompts scored"
    assert res["n_prompts"] == 8 and res["n_errors"] == 0 and res["n_answer_mismatch"] == 0
    assert (out / "curve.png").read_bytes()[:8] == PNG_MAGIC
    assert orjson.loads((out / "result.json").read_bytes())["points"] == res["points"]
    facts = [orjson.loads(line) for line in (out / "requests.jsonl").read_bytes().splitlines()]
    knobs = [p["knob"] for p in res["points"]]
    assert knobs[:5] == ["quality=0.5", "quality=0.7", "quality=0.8", "quality=0.9", "quality=0.95"]
    assert all(k.startswith("wtp=") for k in knobs[5:]) and len(facts) == len(served) == 8 * len(knobs)
    by_id = {g["request_id"]: g["ledger"] for g in served}
    for p in res["points"]:
        rows = [f for f in facts if f["knob"] == p["knob"]]
        answered = [(int(f["id"][1:]), by_id[f["request_id"]]["model"]) for f in rows]
        assert p["quality"] == pytest.approx(sum(quality(i, m) for i, m in answered) / 8)
        assert p["cost_per_1k"] == pytest.approx(1000 * sum(cost(i, m) for i, m in answered) / 8)
        assert p["data_cost_per_1k"] == pytest.approx(p["cost_per_1k"])
        assert sum(p["model_shares"].values()) == pytest.approx(1.0)
        assert p["strong_share"] == p["model_shares"][GPT4] == p["strong_calls"]  # one call each
        assert p["escalation_rate"] == 0.0 and p["added_latency_ms"]["p50"] > 0
    # The catalog priors (mixtral 0.706, gpt-3.5 0.70, gpt-4 0.85): quality<=0.7 -> mixtral, else GPT-4.
    shares = {p["knob"]: p["model_shares"] for p in res["points"]}
    assert shares["quality=0.5"][MIX] == shares["quality=0.7"][MIX] == 1.0
    assert shares["quality=0.8"][GPT4] == shares["quality=0.95"][GPT4] == 1.0
    base = res["baselines"]
    assert base["models"][GPT4] == pytest.approx(
        {"quality": 7 / 8, "cost_per_1k": 1000 * sum(cost(i, GPT4) for i in range(8)) / 8}
    )
    assert base["oracle"]["quality"] == 1.0
    for row in by_id.values():
        assert row["n_attempts"] == 1
    assert list(cwd.iterdir()) == []


def test_two_model_share_knobs_and_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = fixture(tmp_path, (MIX, GPT4))
    argv = ["eval", "--live", "--dataset", str(data), "--router", "heuristic", "--limit", "4"]
    assert run([*argv, "--knobs", "share=0.2,share=0.8", "--json", "--out", str(tmp_path / "o")]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert res["kind"] == "two-model" and res["n_prompts"] == 4 and res["n_requests"] == 8
    assert res["protocol"].endswith("; first 4 scored prompts (--limit)")
    assert [p["knob"] for p in res["points"]] == ["share=0.2", "share=0.8"]
    assert {"apgr", "cpt50", "weak_model", "share_calibration"} <= set(res)
    assert all("pgr" in p for p in res["points"])


def test_learned_router_fits_on_train_and_replays_test(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import satisfice.predict

    trained: list[set[str]] = []
    real_fit = satisfice.predict.fit

    def recording_fit(records: Any, *, seed: int = 0) -> Any:
        trained.append({r.id for r in records})
        return real_fit(records, seed=seed)

    monkeypatch.setattr(satisfice.predict, "fit", recording_fit)
    out = tmp_path / "out"
    argv = ["eval", "--live", "--dataset", str(fixture(tmp_path)), "--knobs", "quality=0.8,wtp=0.1"]
    assert run([*argv, "--json", "--out", str(out)]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert trained == [{f"q{i}" for i in range(5)}]
    assert res["protocol"] == "split: tiny train→test (5 train, 3 scored)"
    assert (
        res["n_prompts"] == 3 and res["n_errors"] == 0 and res["gateway"]["routers"] == ["router-split.npz"]
    )
    facts = [orjson.loads(line) for line in (out / "requests.jsonl").read_bytes().splitlines()]
    assert {f["id"] for f in facts} == {"q5", "q6", "q7"} and len(facts) == 6
    assert res["folds"] is None  # a split, not cross-validation


def test_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(fixture(tmp_path))
    assert run(["eval", "--live", "--dataset", data, "--router", "prior", "--knobs", "speed=3"]) == 2
    assert "--knobs" in capsys.readouterr().err
    assert run(["eval", "--live", "--dataset", str(tmp_path / "missing.jsonl")]) == 2
    rows = orjson.loads(b"[" + b",".join(Path(data).read_bytes().splitlines()) + b"]")
    del rows[0]["outcomes"][MIX]["response"]
    bare = write_jsonl(tmp_path / "bare.jsonl", rows)
    assert run(["eval", "--live", "--dataset", str(bare), "--router", "prior"]) == 2
    err = capsys.readouterr().err  # where, and what to do about it
    assert f"1 (prompt, model) pairs have no recorded answer to replay (the first: id 'q0', {MIX})" in err
    assert "leave such models out with --models" in err
    assert run(["eval", "--live", "--dataset", data, "--concurrency", "0"]) == 2
    assert "--concurrency must be at least 1, got 0" in capsys.readouterr().err


def test_route_option_strategy_and_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(fixture(tmp_path))
    argv = ["eval", "--live", "--dataset", data, "--router", "prior", "--knobs", "quality=0.9", "--json"]
    assert run([*argv, "--route", "first", "--out", str(tmp_path / "a")]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert res["points"][0]["model_shares"][MIX] == 1.0  # strategy first: the first candidate
    assert res["gateway"]["route"] == "first"
    route = tmp_path / "route.yaml"
    route.write_text(f"strategy: cheapest\ncandidates: [{GPT4}, {GPT35}]\n")
    assert run([*argv, "--route", str(route), "--out", str(tmp_path / "b")]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert res["points"][0]["model_shares"][GPT35] == 1.0
    assert res["points"][0]["quality"] == pytest.approx(sum(quality(i, GPT35) for i in range(8)) / 8)
    inline = f"{{strategy: cheapest, candidates: [{GPT4}, {GPT35}]}}"  # the same body, inline
    assert run([*argv, "--route", inline, "--out", str(tmp_path / "b2")]) == 0
    assert orjson.loads(capsys.readouterr().out)["points"][0]["model_shares"][GPT35] == 1.0
    route.write_text("strategy: auto\nrouter: heuristic\n")  # --router says which router is measured
    assert run([*argv, "--route", str(route), "--out", str(tmp_path / "c")]) == 2
    assert "leave 'router' out; the evaluation sets it from --router" in capsys.readouterr().err


def test_learn_feedback_moves_the_scored_half_off_the_model_users_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], served: list[dict[str, Any]]
) -> None:
    """Mixtral's catalog prior (0.706) meets quality=0.7, but users score every Mixtral answer 0. The
    teaching half's feedback passes the gate, and the scored half goes to GPT-4; the control gateway,
    which did not learn, keeps sending it to Mixtral."""
    rows = [
        {
            "id": f"p{i}",
            "messages": [{"role": "user", "content": f"Question {i}: {TOPICS[i % len(TOPICS)]}"}],
            "outcomes": {
                MIX: {"quality": 0.0, "cost_usd": 0.0002, "response": f"mixtral {i}"},
                GPT4: {"quality": 1.0, "cost_usd": 0.005, "response": f"gpt-4 {i}"},
            },
        }
        for i in range(60)
    ]
    data = write_jsonl(tmp_path / "rejected.jsonl", rows)
    argv = [
        "eval",
        "--live",
        "--dataset",
        str(data),
        "--router",
        "prior",
        "--learn",
        "--knobs",
        "quality=0.7",
    ]
    assert run([*argv, "--json", "--out", str(tmp_path / "out")]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert res["n_prompts"] == 30 and "--learn" in res["protocol"]
    (fold,) = res["learning"]["folds"]
    assert fold["taught_requests"] == fold["feedback_sent"] == fold["feedback_accepted"] == 30
    gate = fold["gate"]
    assert gate["promoted"] and gate["decisions_checked"] == 30 and gate["decisions_routed_differently"] == 30
    (learned,) = res["points"]
    (control,) = res["learning"]["control_points"]
    assert learned["model_shares"][GPT4] == 1.0 and learned["quality"] == 1.0
    assert control["model_shares"][MIX] == 1.0 and control["quality"] == 0.0
    # Two gateways (learning, control); the taught half is answered only by the first, before the
    # scored half; the warm-up request of each gateway is not scored.
    assert len(served) == 2 * 30


def test_learn_needs_live(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["eval", "--dataset", str(fixture(tmp_path)), "--learn"]) == 2
    assert "--learn needs --live" in capsys.readouterr().err


def test_escalated_means_the_cascade_moved_past_a_failed_answer() -> None:
    def attempt(model: str, verdict: str | None) -> dict[str, Any]:
        return {"model": model, "outcome": "ok", "verdict": verdict}

    assert live.escalated([attempt(MIX, "fail"), attempt(GPT4, "pass")], GPT4)
    assert live.escalated([attempt(MIX, "fail"), attempt(GPT4, "fail")], GPT4)
    assert not live.escalated([attempt(GPT4, "fail")], GPT4)  # a last rung fails with nowhere to go
    assert not live.escalated([attempt(MIX, "pass"), attempt(GPT4, None)], MIX)  # an unused partner


def test_text_output_reports_escalation_rate_and_added_latency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--live", "--dataset", str(fixture(tmp_path)), "--router", "prior", "--no-progress"]
    assert run([*argv, "--knobs", "quality=0.5,quality=0.9", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    head = next(line for line in text.splitlines() if "knob (reported points)" in line)
    assert "escalated" in head and "added ms p50/p90" in head
    res = orjson.loads((tmp_path / "o" / "result.json").read_bytes())
    for p in res["points"]:
        cells = next(line for line in text.splitlines() if line.strip().startswith(p["knob"] + " "))
        lat = p["added_latency_ms"]
        assert f"{p['escalation_rate']:.2f}" in cells and f"{lat['p50']:.1f}/{lat['p90']:.1f}" in cells


def test_bad_dataset_route_and_lines_exit_2_naming_the_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = fixture(tmp_path)
    base = ["eval", "--live", "--router", "prior", "--no-progress", "--out", str(tmp_path / "o")]
    assert run([*base, "--dataset", str(tmp_path)]) == 2
    assert f"{tmp_path}: is a directory" in capsys.readouterr().err
    missing = tmp_path / "missing.yaml"
    assert run([*base, "--dataset", str(data), "--route", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"--route {missing}: file not found" in err and "strategy" not in err
    assert run([*base, "--dataset", str(data), "--route", "{strategy: [cascade"]) == 2  # inline, broken
    assert "--route {strategy: [cascade: cannot read it as YAML" in capsys.readouterr().err
    assert run([*base, "--dataset", str(data), "--route", "{router: heuristic}"]) == 2
    assert "leave 'router' out" in capsys.readouterr().err
    rows = orjson.loads(b"[" + b",".join(data.read_bytes().splitlines()) + b"]")
    del rows[2]["outcomes"]
    gap = write_jsonl(tmp_path / "gap.jsonl", rows)
    assert run([*base, "--dataset", str(gap)]) == 2
    assert f"{gap}:3.outcomes: required" in capsys.readouterr().err


def test_strong_calls_count_every_request_that_called_the_strong_model() -> None:
    """An agreement partner or a cancelled racer is a strong call the answer does not show."""
    replay = SimpleNamespace(models=[MIX, GPT4], strong=lambda: 1)
    common = {"status": 200, "quality": 1.0, "cost_usd": 0.001, "data_cost_usd": 0.001}
    common |= {"escalated": False, "latency_ms": 1.0}
    rows = [
        {**common, "model": MIX, "called": [GPT4, MIX]},  # GPT-4 asked as the partner; they agreed
        {**common, "model": GPT4, "called": [GPT4, MIX]},  # they disagreed: GPT-4's answer
        {**common, "model": MIX, "called": [MIX]},
        {**common, "model": MIX, "called": [MIX]},
    ]
    point = live._point("quality=0.5", rows, replay, 1.0)  # type: ignore[arg-type]
    assert point["strong_share"] == 0.25 and point["strong_calls"] == 0.5


def test_route_candidates_must_be_models_the_data_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A candidate the data has no answer for failed every request, scored 0 with exit 0."""
    data = str(fixture(tmp_path, (MIX, GPT4)))
    route = tmp_path / "route.yaml"
    route.write_text("strategy: first\ncandidates: [gpt-3.5-turbo]\n")
    argv = ["eval", "--live", "--dataset", data, "--router", "prior", "--no-progress"]
    assert run([*argv, "--route", str(route), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"--route {route}: gpt-3.5-turbo is not among the replayed models ({MIX}, {GPT4})" in err
    # A strategy's name is a strategy, even beside a folder of that name; runs of two routes keep
    # their own results folders.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "first").mkdir()
    assert run([*argv, "--knobs", "share=0.5", "--route", "first"]) == 0
    assert run([*argv, "--knobs", "share=0.5", "--route", "cheapest"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in (tmp_path / "eval-results").iterdir()) == [
        "tiny-prior-cheapest-live",
        "tiny-prior-first-live",
    ]


def test_a_model_the_catalog_lacks_is_routed_on_the_datas_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offline, the router sees the data's costs; the gateway priced an unknown model at a stand-in
    ($1 / $2 per million tokens), 100 times this one's, and never chose it."""
    rows = [
        {
            "id": f"q{i}",
            "messages": [{"role": "user", "content": text}],
            "outcomes": {
                GPT35: {"quality": 1.0, "cost_usd": 0.001, "response": "ok"},
                "cheapo-7b": {"quality": 1.0, "cost_usd": 0.00001, "response": "ok"},
            },
        }
        for i, text in enumerate(TOPICS[:4])
    ]
    data = str(write_jsonl(tmp_path / "cheapo.jsonl", rows))
    shares = []
    for mode in ([], ["--live"]):
        argv = ["eval", *mode, "--dataset", data, "--router", "prior", "--knobs", "wtp=0.0001,quality=0.5"]
        assert run([*argv, "--json", "--no-progress", "--out", str(tmp_path / f"o{len(mode)}")]) == 0
        res = orjson.loads(capsys.readouterr().out)
        shares.append([p["model_shares"]["cheapo-7b"] for p in res["points"]])
    assert shares == [[1.0, 1.0], [1.0, 1.0]]


def test_live_two_model_metrics_read_calls_to_the_strong_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A race calls both models on every request: its curve sits at a strong-call share of 1, however
    rarely the strong answer is used, and --knobs leaves the curve's metrics null, as offline."""
    data = str(fixture(tmp_path, (MIX, GPT4)))
    argv = ["eval", "--live", "--dataset", data, "--router", "heuristic", "--route", "speculative"]
    assert run([*argv, "--json", "--no-progress", "--out", str(tmp_path / "o")]) == 0
    res = orjson.loads(capsys.readouterr().out)
    from satisfice.evals.metrics import curve_metrics

    weak, strong = (res["baselines"]["models"][m]["quality"] for m in (MIX, GPT4))
    calls = [p["strong_calls"] for p in res["points"]]
    assert calls == [1.0] * len(calls) and res["share_axis"] == "strong_calls"
    expected = curve_metrics(
        [0.0, *calls, 1.0], [weak, *(p["quality"] for p in res["points"]), strong], weak, strong
    )
    assert res["apgr"] == pytest.approx(expected["apgr"])
    knobs = ["--knobs", "share=0.5,share=0.50,share=0.2"]
    assert run([*argv, *knobs, "--json", "--no-progress", "--out", str(tmp_path / "k")]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert [p["knob"] for p in res["points"]] == ["share=0.5", "share=0.2"]  # one point per setting
    assert [p["n_requests"] for p in res["points"]] == [8, 8]
    assert [res[k] for k in ("apgr", "cpt50", "cpt80", "share_for_95")] == [None] * 4
    assert any("need the whole sweep" in n for n in res["notes"])


def test_learning_halves_keep_a_conversation_in_one_half() -> None:
    """One conversation under two ids was taught under one and scored under the other."""
    import numpy as np

    from satisfice.data.records import Outcome, Record

    records = [
        Record(f"q{i}{twin}", ({"role": "user", "content": f"question {i}"},), {MIX: Outcome(1.0)})
        for i in range(10)
        for twin in "ab"
    ]
    (fold,) = live._split_for_learning([live.Fold(np.arange(20), "prior")], records, 0)
    assert fold.teach is not None and fold.teach.size == fold.rows.size == 10
    taught = {records[j].conversation_text() for j in fold.teach.tolist()}
    scored = {records[j].conversation_text() for j in fold.rows.tolist()}
    assert taught.isdisjoint(scored) and len(taught) == len(scored) == 5


def test_distinct_prompts_are_halved_as_before() -> None:
    """One prompt per conversation: the halves the learning figures in docs/router.md were measured
    with (the seeded permutation's first half teaches)."""
    import numpy as np

    from satisfice.data.records import Outcome, Record

    records = [
        Record(f"q{i}", ({"role": "user", "content": f"q {i}"},), {MIX: Outcome(1.0)}) for i in range(11)
    ]
    (fold,) = live._split_for_learning([live.Fold(np.arange(11), "prior")], records, 3)
    shuffled = np.random.default_rng(4).permutation(np.arange(11))
    assert fold.teach is not None
    assert (fold.teach.tolist(), fold.rows.tolist()) == (sorted(shuffled[:5]), sorted(shuffled[5:]))


def test_a_failed_request_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A prompt the gateway refuses (an image, for models the catalog says read none) scores 0: the
    warning, the result and requests.jsonl carry the gateway's error, not only its status."""
    data = fixture(tmp_path, (MIX, GPT4))
    rows = [orjson.loads(line) for line in data.read_bytes().splitlines()]
    rows[2]["messages"] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ]
    write_jsonl(data, rows)
    argv = ["eval", "--live", "--dataset", str(data), "--router", "prior", "--knobs", "quality=0.8"]
    assert run([*argv, "--no-progress", "--out", str(tmp_path / "text")]) == 0
    text = capsys.readouterr().out
    assert "WARNING: 1 of 8 requests failed (scored 0)" in text
    assert "  1 x 400: No candidate of route 'auto' can take this request" in text
    assert run([*argv, "--json", "--out", str(tmp_path / "o")]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert res["n_errors"] == 1 and res["errors"][0]["status"] == 400 and res["errors"][0]["requests"] == 1
    assert "no image input" in res["errors"][0]["error"]
    facts = [orjson.loads(line) for line in (tmp_path / "o" / "requests.jsonl").read_bytes().splitlines()]
    failed = [f for f in facts if f["status"] != 200]
    assert [f["id"] for f in failed] == ["q2"] and failed[0]["error"] == res["errors"][0]["error"]
    assert all(f["error"] is None for f in facts if f["status"] == 200)
