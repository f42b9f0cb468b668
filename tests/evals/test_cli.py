"""`satisfice eval` and `satisfice data convert` through a small argparse harness (the lead wires cli.py)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from satisfice.data.convert import add_data_parser, convert
from satisfice.data.jsonl import read_jsonl
from satisfice.evals import add_eval_parser
from tests.evals.helpers import (
    ModelPredictor,
    RecordingFit,
    row,
    two_model_predictor,
    two_model_rows,
    write_jsonl,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="satisfice")
    sub = p.add_subparsers(dest="command", required=True)
    add_eval_parser(sub)
    add_data_parser(sub)
    args = p.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def fake_router(monkeypatch: pytest.MonkeyPatch) -> None:
    from satisfice.evals import protocols

    monkeypatch.setattr(protocols, "load_router", lambda name, seed=0: two_model_predictor())


@pytest.mark.usefixtures("fake_router")
def test_eval_json_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "tiny.jsonl", two_model_rows())
    out = tmp_path / "out"
    argv = ["eval", "--dataset", str(data), "--router", "heuristic", "--json", "--out", str(out)]
    assert run(argv) == 0
    res = orjson.loads(capsys.readouterr().out)
    for key in (
        "router",
        "dataset",
        "protocol",
        "n_prompts",
        "baselines",
        "points",
        "apgr",
        "cpt50",
        "cpt80",
    ):
        assert key in res
    assert res["router"] == "heuristic" and res["dataset"] == "tiny"
    assert res["protocol"] == "no training (heuristic): all prompts scored"
    assert res["apgr"] == pytest.approx(0.6) and res["share_for_95"] == pytest.approx(0.56)
    assert set(res["baselines"]) == {"models", "random", "oracle"}
    assert (out / "curve.png").read_bytes()[:8] == PNG_MAGIC
    assert orjson.loads((out / "result.json").read_bytes())["apgr"] == res["apgr"]


@pytest.mark.usefixtures("fake_router")
def test_eval_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "tiny.jsonl", two_model_rows())
    assert run(["eval", "--dataset", str(data), "--router", "prior", "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "protocol: no training (prior)" in text
    assert "APGR" in text and "oracle" in text and "share=0.5" in text
    assert f"{tmp_path / 'o' / 'curve.png'}" in text
    assert "sweep share=0..1" in captured.err  # the progress bar, on stderr only


def test_pairwise_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from satisfice.evals import protocols

    a, b, c = "gpt-4-1106-preview", "mixtral-8x7b-instruct", "claude-1"
    predictor = ModelPredictor({a: 0.9, b: 0.6, c: 0.7})
    monkeypatch.setattr(protocols, "load_router", lambda name, seed=0: predictor)
    rows = [row("v1", {a: (1.0, None), b: (0.0, None)}), row("v2", {c: (0.0, None), b: (1.0, None)})]
    data = write_jsonl(tmp_path / "votes.jsonl", rows)
    assert run(["eval", "--dataset", str(data), "--router", "prior", "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "pairwise data" in text and "cannot be replayed" in text and "agreement" in text
    assert "router                             0.500" in text  # v1 right, v2 wrong
    assert (tmp_path / "o" / "curve.png").read_bytes()[:8] == PNG_MAGIC


def test_unreplayable_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [row("x1", {"a-model": (1.0, 0.1)}), row("x2", {"b-model": (1.0, 0.1)})]
    data = write_jsonl(tmp_path / "sparse.jsonl", rows)
    argv = ["eval", "--dataset", str(data), "--router", "prior", "--out", str(tmp_path / "o")]
    assert run(argv) == 2
    assert "no prompt has outcomes for two models" in capsys.readouterr().err
    assert run([*argv, "--models", "a-model,b-model"]) == 2
    assert "cannot be replayed" in capsys.readouterr().err
    assert run(["eval", "--dataset", str(tmp_path / "missing.jsonl"), "--router", "prior"]) == 2


def test_real_prior_router_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever implements "prior" (satisfice.predict or the stand-in), the output is well-formed."""
    data = write_jsonl(tmp_path / "tiny.jsonl", two_model_rows())
    argv = ["eval", "--dataset", str(data), "--router", "prior", "--json", "--no-progress"]
    assert run([*argv, "--out", str(tmp_path / "o")]) == 0
    res: dict[str, Any] = orjson.loads(capsys.readouterr().out)
    assert 0.4 <= res["points"][50]["quality"] <= 0.8
    assert res["baselines"]["random"]["apgr"] == pytest.approx(0.5)


def shared_available() -> bool:
    try:
        from satisfice.data.shared import data_root

        return (data_root() / "routellm-evals" / "gsm8k.csv.gz").exists()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not shared_available(), reason="shared data not found")
def test_convert_round_trips(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    from satisfice.data.shared import load_shared

    assert (
        run(["data", "convert", "--dataset", "gsm8k", "--dataset", "arena-battles", "--out", str(tmp_path)])
        == 0
    )
    for name in ("gsm8k", "arena-battles"):
        original = load_shared(name)
        back = read_jsonl(tmp_path / f"{name}.jsonl")
        assert back.name == name
        assert back.records == original.records
        assert back.models == original.models
        assert back.pairwise == original.pairwise
    capsysbinary.readouterr()
    assert run(["data", "convert", "--dataset", "gsm8k", "--out", "-"]) == 0
    assert capsysbinary.readouterr().out == (tmp_path / "gsm8k.jsonl").read_bytes()
    with pytest.raises(KeyError):
        convert(["nope"], tmp_path)


@pytest.mark.skipif(not shared_available(), reason="shared data not found")
def test_several_datasets_in_one_file_read_back(tmp_path: Path) -> None:
    """arena-bench and arena-battles share prompt ids: in one file each id gets its dataset's name,
    so the file is read (it was a duplicate-id error); a dataset named twice is written once."""
    out = tmp_path / "ab.jsonl"
    names = ["arena-bench", "arena-battles", "arena-bench"]
    assert run(["data", "convert", *(a for n in names for a in ("--dataset", n)), "--out", str(out)]) == 0
    back = read_jsonl(out)
    from satisfice.data.shared import load_shared

    bench, battles = load_shared("arena-bench"), load_shared("arena-battles")
    assert len(back.records) == len(bench.records) + len(battles.records)
    assert back.records[0].id == f"arena-bench:{bench.records[0].id}"
    assert back.records[-1].id == f"arena-battles:{battles.records[-1].id}"
    assert [r.outcomes for r in back.records[: len(bench.records)]] == [r.outcomes for r in bench.records]


@pytest.fixture
def recording_fit(monkeypatch: pytest.MonkeyPatch) -> RecordingFit:
    from satisfice.evals import protocols

    fit = RecordingFit()
    monkeypatch.setattr(protocols, "default_fit", lambda: fit)
    return fit


def test_default_folds_shrink_to_a_tiny_dataset_but_an_explicit_folds_must_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], recording_fit: RecordingFit
) -> None:
    data = write_jsonl(tmp_path / "three.jsonl", two_model_rows()[:3])
    argv = ["eval", "--dataset", str(data), "--no-progress", "--out", str(tmp_path / "o")]
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "protocol: 3-fold CV by prompt text (the default 5 folds lowered to the 3 prompts), seed 0" in out
    assert len(recording_fit.trained) == 3 and all(len(t) == 2 for t in recording_fit.trained)
    assert run([*argv, "--folds", "5"]) == 2
    assert "--folds must be between 2 and the number of prompts (3), got 5" in capsys.readouterr().err
    one = write_jsonl(tmp_path / "one.jsonl", two_model_rows()[:1])
    assert run(["eval", "--dataset", str(one), "--no-progress", "--out", str(tmp_path / "o1")]) == 2
    err = capsys.readouterr().err
    assert "needs at least 2 prompts" in err and "--folds" not in err


def test_loosely_written_model_names_resolve_to_the_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loose = {"GPT-4-1106-Preview": "gpt-4-1106-preview", "mixtral_8x7b_instruct": "mixtral-8x7b-instruct"}
    rows = [row(f"p{i}", {m: (float(i % 2), None) for m in loose}) for i in range(4)]  # no cost: priced
    data = write_jsonl(tmp_path / "loose.jsonl", rows)
    argv = ["eval", "--dataset", str(data), "--router", "prior", "--json", "--no-progress"]
    assert run([*argv, "--out", str(tmp_path / "o")]) == 0
    res = orjson.loads(capsys.readouterr().out)
    assert sorted(res["models"]) == sorted(loose.values())
    rows = [row("p0", {"GPT-4-1106-Preview": (1.0, None), "gpt-4-1106-preview": (0.0, None)})]
    twice = write_jsonl(tmp_path / "twice.jsonl", rows)
    assert run(["eval", "--dataset", str(twice), "--router", "prior"]) == 2
    assert "'GPT-4-1106-Preview' and 'gpt-4-1106-preview' are the same model" in capsys.readouterr().err


def test_a_line_without_outcomes_is_an_error_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = two_model_rows()
    del rows[2]["outcomes"]
    data = write_jsonl(tmp_path / "gap.jsonl", rows)
    assert run(["eval", "--dataset", str(data), "--router", "prior", "--out", str(tmp_path / "o")]) == 2
    assert f"{data}:3.outcomes: required" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # the output folder made for the run is removed again


def test_bad_paths_and_flags_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(write_jsonl(tmp_path / "tiny.jsonl", two_model_rows()))
    out = ["--out", str(tmp_path / "o")]
    cases = [
        (["--dataset", str(tmp_path), *out], f"{tmp_path}: is a directory"),
        (["--dataset", data, "--train-on", "nope", *out], "--train-on nope: 'nope' is neither"),
        (["--dataset", data, "--router", "prior", "--out", "/proc/nope"], "--out /proc/nope: cannot write"),
    ]
    for argv, message in cases:
        assert run(["eval", "--no-progress", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.skipif(not shared_available(), reason="shared data not found")
def test_convert_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "existing.jsonl"
    target.write_text("keep me\n")
    assert run(["data", "convert", "--dataset", "gsm8k", "--out", str(target)]) == 2
    assert f"{target} already exists; pass --force to overwrite" in capsys.readouterr().err
    assert target.read_text() == "keep me\n"
    assert run(["data", "convert", "--dataset", "gsm8k", "--out", str(target), "--force"]) == 0
    assert len(read_jsonl(target).records) > 1000
    folder = tmp_path / "folder"
    assert run(["data", "convert", "--dataset", "gsm8k", "--out", str(folder)]) == 0
    assert run(["data", "convert", "--dataset", "gsm8k", "--out", str(folder)]) == 2
    assert "gsm8k.jsonl already exists; pass --force" in capsys.readouterr().err
    assert run(["data", "convert", "--dataset", "gsm8k", "--out", "/proc/nope"]) == 2
    assert "--out /proc/nope: cannot write" in capsys.readouterr().err


@pytest.mark.skipif(not shared_available(), reason="shared data not found")
def test_every_id_names_one_prompt(tmp_path: Path) -> None:
    """MMLU's source repeats 27 prompt ids: the repeats get "#2", so the converted file round-trips
    and each record can be named alone; a JSONL file that repeats an id is a format error."""
    from satisfice.data.jsonl import DataFormatError
    from satisfice.data.shared import load_shared

    ids = [r.id for r in load_shared("mmlu").records]
    assert len(set(ids)) == len(ids) and sum(i.endswith("#2") for i in ids) == 27
    twice = tmp_path / "twice.jsonl"
    line = '{"id": "a", "messages": [{"role": "user", "content": "x"}], '
    line += '"outcomes": {"gpt-4o": {"quality": 1}}}\n'
    twice.write_text(line + line.replace('"content": "x"', '"content": "y"'))
    with pytest.raises(DataFormatError, match=r"twice.jsonl:2.id: 'a' is already the id of line 1"):
        read_jsonl(twice)
