"""`satisfice eval` on awkward inputs: multi-turn data, sparse and stray models, inverted pairs,
odd ids, empty files, offline flags, output folders. Each case is a tiny file the test builds."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from satisfice.data.jsonl import DataFormatError, read_jsonl
from satisfice.data.records import Record
from satisfice.evals import EvalError, add_eval_parser, evaluate
from tests.evals.helpers import (
    STRONG,
    WEAK,
    ModelPredictor,
    TablePredictor,
    row,
    two_model_predictor,
    two_model_rows,
    write_jsonl,
)

CLAUDE = "claude-instant-1.2"


def run(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="satisfice")
    add_eval_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return int(args.func(args))


class StrictFit:
    """Like `satisfice.predict.fit`: refuses an empty training set. Remembers the ids it trained on."""

    def __init__(self) -> None:
        self.trained: list[set[str]] = []

    def __call__(self, records: Sequence[Record], *, seed: int = 0) -> ModelPredictor:
        if not records:
            raise ValueError("no training records")
        self.trained.append({r.id for r in records})
        return ModelPredictor({WEAK: 0.5, STRONG: 0.9, CLAUDE: 0.7})


@pytest.fixture
def strict_fit(monkeypatch: pytest.MonkeyPatch) -> StrictFit:
    from satisfice.evals import protocols

    fit = StrictFit()
    monkeypatch.setattr(protocols, "default_fit", lambda: fit)
    return fit


def continued(i: int, last: str = "Continue") -> dict[str, Any]:
    """A three-turn conversation whose last user turn is the same for every i."""
    out = row(f"t{i}", {WEAK: (float(i % 2), None), STRONG: (1.0, None)})
    out["messages"] = [
        {"role": "user", "content": f"Question {i}: what is {i}*7?"},
        {"role": "assistant", "content": "Let me think."},
        {"role": "user", "content": last},
    ]
    return out


# 1. cross-validation groups ------------------------------------------------------------------


def test_conversations_ending_alike_are_distinct_prompts(tmp_path: Path, strict_fit: StrictFit) -> None:
    data = read_jsonl(write_jsonl(tmp_path / "cont.jsonl", [continued(i) for i in range(6)]))
    res = evaluate(data, "learned", seed=3)
    assert res["protocol"] == "5-fold CV by prompt text, seed 3"
    assert res["n_prompts"] == 6 and len(strict_fit.trained) == 5
    assert sorted(len(t) for t in strict_fit.trained) == [4, 5, 5, 5, 5]  # 6 prompts in 5 folds


def test_one_conversation_under_several_ids_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], strict_fit: StrictFit
) -> None:
    rows = [continued(0) for _ in range(3)]
    for i, r in enumerate(rows):
        r["id"] = f"dup{i}"
    data = write_jsonl(tmp_path / "same.jsonl", rows)
    assert run(["eval", "--dataset", str(data), "--no-progress", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "satisfice eval: cross-validation needs at least 2 prompts; the data has 1; "
        "its 3 records hold 1 distinct prompts"
    )
    assert not strict_fit.trained and not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (
            [{"role": "human", "content": "hi"}],
            "1.messages[0].role: expected one of system, developer, user, assistant, tool, function "
            '(OpenAI chat roles), got "human"',
        ),
        ([{"role": "system", "content": "be brief"}], '1.messages: no message with role "user"'),
        ([{"role": "user", "content": {"text": "hi"}}], "1.messages[0].content: expected a string or a list"),
    ],
)
def test_messages_must_be_openai_chat_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], messages: list[dict[str, Any]], message: str
) -> None:
    rows = two_model_rows()
    rows[0]["messages"] = messages
    data = write_jsonl(tmp_path / "roles.jsonl", rows)
    assert run(["eval", "--dataset", str(data), "--router", "prior", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"{data}:{message}" in err and len(err.strip().splitlines()) == 1


# 2. graded two-outcome records are measurements, not votes ----------------------------------


def sparse_rows() -> list[dict[str, Any]]:
    """Each prompt has graded outcomes for two of three models: 6 x (WEAK, STRONG), 3 x (STRONG,
    CLAUDE), 2 x (WEAK, CLAUDE)."""
    pairs = [(WEAK, STRONG)] * 6 + [(STRONG, CLAUDE)] * 3 + [(WEAK, CLAUDE)] * 2
    return [
        row(f"s{i}", {a: (0.37, 0.001 if a == WEAK else 0.01), b: (0.82, 0.01 if b == STRONG else 0.002)})
        for i, (a, b) in enumerate(pairs)
    ]


def test_graded_pairs_are_replayed_not_read_as_votes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "graded.jsonl", sparse_rows())
    assert not read_jsonl(data).pairwise
    argv = ["eval", "--dataset", str(data), "--router", "prior", "--json", "--no-progress"]
    assert run([*argv, "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    res = orjson.loads(captured.out)
    assert res["kind"] == "two-model" and len(res["points"]) == 101
    assert (res["models"], res["n_prompts"], res["n_dropped_incomplete"]) == ([WEAK, STRONG], 6, 5)
    assert "only 0 of 11 prompts have an outcome for all 3 models" in captured.err
    assert "5 of 11 prompts dropped: they lack an outcome for at least one of the 2" in captured.err
    votes = [
        row("v1", {WEAK: (1.0, None), STRONG: (0.0, None)}),
        row("v2", {STRONG: (0.5, None), CLAUDE: (0.5, None)}),
    ]
    assert read_jsonl(write_jsonl(tmp_path / "votes.jsonl", votes)).pairwise


# 3. a stray model, and --models -------------------------------------------------------------


def stray_rows() -> list[dict[str, Any]]:
    rows = [row(f"p{i}", {WEAK: (float(i % 2), 0.001), STRONG: (1.0, 0.01)}) for i in range(20)]
    for r in rows[:2]:
        r["outcomes"][CLAUDE] = {"quality": 1.0, "cost_usd": 0.002}
    return rows


def test_a_stray_model_does_not_shrink_the_evaluation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "stray.jsonl", stray_rows())
    argv = ["eval", "--dataset", str(data), "--router", "prior", "--json", "--no-progress"]
    assert run([*argv, "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    res = orjson.loads(captured.out)
    assert (res["models"], res["n_prompts"], res["n_dropped_incomplete"]) == ([WEAK, STRONG], 20, 0)
    assert res["models_chosen_by"] == "chosen: the models that keep the most prompts"
    assert "only 2 of 20 prompts have an outcome for all 3 models" in captured.err
    assert "Choose others with --models" in captured.err


def test_models_flag_picks_the_models_and_reports_the_drop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "stray.jsonl", stray_rows())
    argv = ["eval", "--dataset", str(data), "--router", "prior", "--json", "--no-progress"]
    # names read loosely, as in the data files
    assert (
        run([*argv, "--models", "Mixtral_8x7b_Instruct,claude-instant-1.2", "--out", str(tmp_path / "o")])
        == 0
    )
    captured = capsys.readouterr()
    res = orjson.loads(captured.out)
    assert (res["models"], res["n_prompts"], res["n_dropped_incomplete"]) == ([WEAK, CLAUDE], 2, 18)
    assert "18 of 20 prompts dropped: they lack an outcome for at least one of the 2 evaluated models" in (
        captured.err
    )
    assert run([*argv, "--models", f"{WEAK},gpt-4o", "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "--models: no outcome for gpt-4o in stray" in err and len(err.strip().splitlines()) == 1
    assert run([*argv, "--models", WEAK, "--out", str(tmp_path / "o3")]) == 2
    assert "--models: name at least two models" in capsys.readouterr().err


# 4. flags offline ---------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [["--route", "cascade"], ["--concurrency", "3"], ["--learn"]])
def test_live_only_flags_are_refused_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    data = write_jsonl(tmp_path / "tiny.jsonl", two_model_rows())
    argv = ["eval", "--dataset", str(data), "--router", "prior", "--out", str(tmp_path / "o"), *flags]
    assert run(argv) == 2
    assert capsys.readouterr().err.strip() == f"satisfice eval: {flags[0]} needs --live (the real gateway)"


def test_limit_and_knobs_apply_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from satisfice.evals import protocols

    monkeypatch.setattr(protocols, "load_router", lambda name, seed=0: two_model_predictor())
    data = write_jsonl(tmp_path / "tiny.jsonl", two_model_rows())
    argv = ["eval", "--dataset", str(data), "--router", "heuristic", "--json", "--no-progress"]
    assert run([*argv, "--limit", "3", "--knobs", "share=0.5,quality=0.8", "--out", str(tmp_path / "o")]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert res["n_prompts"] == 3 and res["protocol"].endswith("; first 3 scored prompts (--limit)")
    assert res["knobs"] == ["share=0.5", "quality=0.8"]
    assert [p["knob"] for p in res["points"]] == ["share=0.5", "quality=0.8"]
    # p1..p3, predicted weak .9 .2 .7, strong .95: quality=0.8 sends p2 and p3 to the strong model
    assert res["points"][1]["strong_share"] == pytest.approx(2 / 3)
    # A curve through two chosen points is not the router's: no APGR or CPT from it.
    assert [res[k] for k in ("apgr", "cpt50", "cpt80", "share_for_95")] == [None] * 4
    assert any("need the whole sweep" in n for n in res["notes"])
    assert run([*argv, "--knobs", "speed=1", "--out", str(tmp_path / "o2")]) == 2
    assert "--knobs: Unknown knob form 'speed'" in capsys.readouterr().err
    assert run([*argv, "--limit", "0", "--out", str(tmp_path / "o3")]) == 2
    assert "--limit must be at least 1, got 0" in capsys.readouterr().err


def test_limit_skips_the_folds_it_does_not_score(tmp_path: Path, strict_fit: StrictFit) -> None:
    rows = [row(f"q{i}", {WEAK: (float(i % 2), 0.001), STRONG: (1.0, 0.01)}) for i in range(10)]
    res = evaluate(read_jsonl(write_jsonl(tmp_path / "ten.jsonl", rows)), "learned", limit=2)
    assert res["n_prompts"] == 2 and 1 <= len(strict_fit.trained) <= 2


# 5. the strong model of two is the dearer one -----------------------------------------------


def test_the_dearer_model_is_the_strong_one_even_when_it_scores_worse(tmp_path: Path) -> None:
    """The cheap model is right on 3 of 5 prompts, the dear one on 2, and the router predicts the cheap
    one better on average: the share axis still counts calls to the dear model."""
    rows = [
        row(f"p{i + 1}", {WEAK: (float(w), 0.001), STRONG: (float(s), 0.01)})
        for i, (w, s) in enumerate([(1, 0), (1, 0), (1, 1), (0, 1), (0, 0)])
    ]
    ds = read_jsonl(write_jsonl(tmp_path / "inverted.jsonl", rows))
    weak_pred = [0.9, 0.2, 0.7, 0.4, 0.1]
    res = evaluate(ds, TablePredictor({f"p{i + 1}": {WEAK: p, STRONG: 0.3} for i, p in enumerate(weak_pred)}))
    assert (res["strong_model"], res["weak_model"]) == (STRONG, WEAK)
    point = next(p for p in res["points"] if p["knob"] == "share=0.2")
    assert point["strong_share"] == pytest.approx(0.2) and point["pgr"] is None
    assert [res[k] for k in ("apgr", "cpt50", "cpt80")] == [None] * 3
    assert res["share_for_95"] == 0.0  # the cheaper model alone: the curve dips below later
    assert res["baselines"]["oracle"]["apgr"] is None and res["baselines"]["random"]["apgr"] is None
    assert res["warning"].startswith(f"the dearer model {STRONG} does not score better than the cheaper")
    assert res["warning"] in res["notes"]


@pytest.mark.parametrize("cost", [0.0, 0.004])
def test_the_share_knob_reaches_its_share_when_both_models_cost_the_same(tmp_path: Path, cost: float) -> None:
    """Two self-hosted models at $0 (or two at one price): the better-predicted model winning every
    tie kept the strong share where the predictions put it, whatever share was asked for."""
    rows = [row(f"p{i}", {WEAK: (float(i % 2), cost), STRONG: (float(i % 5 != 0), cost)}) for i in range(40)]
    ds = read_jsonl(write_jsonl(tmp_path / "tie.jsonl", rows))
    predictor = TablePredictor({f"p{i}": {WEAK: 0.3 + 0.01 * i, STRONG: 0.9} for i in range(40)})
    res = evaluate(ds, predictor)
    shares = {p["knob"]: p["strong_share"] for p in res["points"]}
    for s in (0.1, 0.2, 0.3, 0.5, 0.8):
        assert shares[f"share={s:g}"] == pytest.approx(s, abs=1 / 40)


# 6. ids -------------------------------------------------------------------------------------


def test_number_ids_are_read_as_text(tmp_path: Path) -> None:
    rows = two_model_rows()
    for r, rid in zip(rows, [0.5, 1.5, 2, "x", 1e3], strict=True):
        r["id"] = rid
    ds = read_jsonl(write_jsonl(tmp_path / "ids.jsonl", rows))
    assert [r.id for r in ds.records] == ["0.5", "1.5", "2", "x", "1000.0"]
    rows[1]["id"] = True
    with pytest.raises(DataFormatError, match=r"ids.jsonl:2.id: expected a string or a number, got true"):
        read_jsonl(write_jsonl(tmp_path / "ids.jsonl", rows))
    del rows[1]["id"]
    with pytest.raises(DataFormatError, match=r"ids.jsonl:2.id: required \(a string or a number\)"):
        read_jsonl(write_jsonl(tmp_path / "ids.jsonl", rows))
    rows[1]["id"] = "2"
    with pytest.raises(
        DataFormatError,
        match=r"ids.jsonl:3.id: '2' is already the id of line 2 \(written \"2\" there; a number id is read",
    ):
        read_jsonl(write_jsonl(tmp_path / "ids.jsonl", rows))


def test_number_ids_keep_the_text_they_were_written_with(tmp_path: Path) -> None:
    """As `satisfice predict` echoes them: 23-digit ids that one float would merge stay apart, and so
    do 1E2 and 100.0; a line nested past the stdlib parser's depth keeps orjson's text."""
    rows = two_model_rows()[:4]
    lines = [orjson.dumps(r).decode() for r in rows]
    literals = ["12345678901234567890123", "12345678901234567890124", "1E2", "100.0"]
    text = "".join(
        line.replace(f'"id":{orjson.dumps(r["id"]).decode()}', f'"id":{lit}', 1) + "\n"
        for line, r, lit in zip(lines, rows, literals, strict=True)
    )
    (tmp_path / "ids.jsonl").write_text(text, encoding="utf-8")
    assert [r.id for r in read_jsonl(tmp_path / "ids.jsonl").records] == literals
    deep = lines[0].replace(f'"id":{orjson.dumps(rows[0]["id"]).decode()}', '"id":1.5', 1)
    deep = deep[:-1] + ',"extra":' + "[" * 990 + "]" * 990 + "}"
    (tmp_path / "deep.jsonl").write_text(deep + "\n", encoding="utf-8")
    assert [r.id for r in read_jsonl(tmp_path / "deep.jsonl").records] == ["1.5"]


def test_a_lone_surrogate_escape_is_read_as_a_replacement_character(tmp_path: Path) -> None:
    rows = two_model_rows()
    rows[0]["messages"][0]["content"] = "cut @ here"
    text = "".join(orjson.dumps(r).decode() + "\n" for r in rows).replace("@", "\\udc00", 1)
    (tmp_path / "cut.jsonl").write_text(text, encoding="utf-8")
    assert read_jsonl(tmp_path / "cut.jsonl").records[0].messages[0]["content"] == "cut \ufffd here"


def test_a_line_that_is_not_utf8_is_named_so(tmp_path: Path) -> None:
    rows = two_model_rows()
    rows[1]["messages"][0]["content"] = "caf\u00e9"
    data = b"".join(orjson.dumps(r) + b"\n" for r in rows).replace("\u00e9".encode(), b"\xe9")
    (tmp_path / "latin1.jsonl").write_bytes(data)
    column = data.split(b"\n")[1].index(b"\xe9") + 1
    with pytest.raises(DataFormatError, match=rf"latin1.jsonl:2: not UTF-8 \(byte 0xe9 at column {column}\)"):
        read_jsonl(tmp_path / "latin1.jsonl")


# 7. empty files -----------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"\n  \n\t\n"])
def test_an_empty_or_blank_file_says_no_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    data = tmp_path / "empty.jsonl"
    data.write_bytes(content)
    assert run(["eval", "--dataset", str(data), "--router", "prior", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.strip() == "satisfice eval: empty: no records (the file is empty or blank)"
    with pytest.raises(EvalError, match="no records"):
        evaluate(str(data), "prior")


# 8. output folders --------------------------------------------------------------------------


def test_results_go_under_eval_results_for_any_data_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    data = write_jsonl(tmp_path / "data" / "tinydata", two_model_rows())  # no .jsonl suffix
    monkeypatch.chdir(tmp_path)
    assert run(["eval", "--dataset", str(data), "--router", "prior", "--no-progress"]) == 0
    capsys.readouterr()
    assert (tmp_path / "eval-results" / "tinydata-prior" / "result.json").exists()
    assert not (tmp_path / "data" / "tinydata-prior").exists()


def test_a_crash_leaves_no_empty_output_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    evaluate_module = importlib.import_module("satisfice.evals.evaluate")  # the package exports the function

    def crash(*args: object, **kwargs: object) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(evaluate_module, "evaluate", crash)
    data = write_jsonl(tmp_path / "tiny.jsonl", two_model_rows())
    out = tmp_path / "new" / "deeper"
    with pytest.raises(RuntimeError, match="boom"):
        run(["eval", "--dataset", str(data), "--router", "prior", "--no-progress", "--out", str(out)])
    assert not (tmp_path / "new").exists()


def test_a_file_name_that_is_not_utf8_still_gets_its_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file named in Latin-1 (`caf\\xe9.jsonl`): Python holds the byte 0xe9 as a lone surrogate."""
    data = write_jsonl(tmp_path / "caf\udce9.jsonl", two_model_rows())
    out = tmp_path / "o"
    assert run(["eval", "--dataset", str(data), "--router", "prior", "--no-progress", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("satisfice eval: caf\ufffd ")
    assert orjson.loads((out / "result.json").read_bytes())["dataset"] == "caf\ufffd"
    assert (out / "curve.png").stat().st_size > 0


def test_a_wrong_shared_data_folder_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SATISFICE_DATA that is not a folder, or a folder without the datasets, says so instead of
    a bare "[Errno 2]" on a file deep inside it."""
    from satisfice.cli import main

    monkeypatch.setenv("SATISFICE_DATA", str(tmp_path / "nowhere"))
    assert main(["eval", "--dataset", "gsm8k"]) == 2
    assert f"SATISFICE_DATA={str(tmp_path / 'nowhere')!r} is not a folder" in capsys.readouterr().err
    monkeypatch.setenv("SATISFICE_DATA", str(tmp_path))
    assert main(["data", "convert", "--dataset", "arena-bench", "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "arena-bench-v1/prompts.csv.gz not found: is SATISFICE_DATA the folder of the shared" in err


def test_one_model_named_twice_is_said_so() -> None:
    """Two spellings of one model were folded into one, then refused as "name at least two models"."""
    from satisfice.evals.select import parse_models

    assert parse_models(" gpt-4-1106-preview , mixtral-8x7b-instruct,") == [STRONG, WEAK]
    with pytest.raises(EvalError, match="'gpt-4-1106-preview' and 'GPT-4-1106-preview' are one model"):
        parse_models("gpt-4-1106-preview,GPT-4-1106-preview")
