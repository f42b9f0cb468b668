"""`satisfice predict` and `satisfice train` run as real processes: bad input costs only its own line,
and every bad input is one line on stderr with exit code 2."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from satisfice.data.jsonl import record_json
from satisfice.predict.learned import ARTIFACT, ARTIFACT_DIR
from tests.evals.test_cli import shared_available
from tests.gateway_proc import ROOT
from tests.predict.test_predictor import _toy
from tests.test_auto_route import run_cli

MODELS = "gpt-4-1106-preview,mixtral-8x7b-instruct"


def line(rid: Any, text: str = "hi") -> str:
    return json.dumps({"id": rid, "messages": [{"role": "user", "content": text}]})


def one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr and stderr.strip(), stderr


def test_bad_lines_are_reported_and_skipped_and_good_lines_still_predicted() -> None:
    lines = [
        line("a", "Prove Fermat's last theorem for n=3."),
        "{oops",
        json.dumps({"messages": [{"role": "user", "content": "no id"}]}),
        line("b"),
        line(True),
        json.dumps({"id": "c", "messages": []}),
        "[1, 2]",
        line(7, "What is 2+2?"),
    ]
    out = run_cli("predict", "--models", MODELS, stdin="\n".join(lines) + "\n")
    assert out.returncode == 2
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", 7]  # every good line, in input order, ids as given
    assert all(set(r) == {"id", "quality"} and set(r["quality"]) == set(MODELS.split(",")) for r in rows)
    good = run_cli("predict", "--models", MODELS, stdin="\n".join(lines[i] for i in (0, 3, 7)) + "\n")
    assert good.returncode == 0 and good.stdout == out.stdout  # the same predictions as without bad lines
    errors = [e for e in out.stderr.splitlines() if e.startswith("error: line ")]
    assert [e.split(":")[1].strip() for e in errors] == ["line 2", "line 3", "line 5", "line 6", "line 7"]
    assert "'id' must be a string or a number (missing)" in errors[1]
    assert "(got true)" in errors[2]
    assert "5 bad line(s) skipped" in out.stderr
    one_line_error(out.stderr)


def test_byte_order_mark_is_accepted() -> None:
    out = run_cli("predict", "--models", MODELS, stdin="\ufeff" + line("a") + "\n")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["id"] == "a"


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ("", "--models: no model given"),
        (" , ", "--models: no model given"),
        ("gpt-4o,gpt-4o", "--models: 'gpt-4o' is given twice"),
        ("gpt-4o,text-embedding-3-small", "'text-embedding-3-small' is an embedding model, not a chat model"),
    ],
)
def test_bad_models_flag_is_a_clear_error(models: str, message: str) -> None:
    out = run_cli("predict", "--models", models, stdin=line("a") + "\n")
    assert out.returncode == 2 and out.stdout == ""
    assert message in out.stderr
    one_line_error(out.stderr)


@pytest.mark.parametrize(
    ("router", "message"),
    [("bogus", "--router bogus: unknown predictor"), ("/nonexistent/m.npz", "no such artifact file")],
)
def test_bad_router_is_a_clear_error(router: str, message: str) -> None:
    out = run_cli("predict", "--models", MODELS, "--router", router, stdin=line("a") + "\n")
    assert out.returncode == 2 and message in out.stderr
    one_line_error(out.stderr)


def toy_file(path: Path, n: int = 24) -> Path:
    path.write_text("".join(json.dumps(record_json(r)) + "\n" for r in _toy(n)))
    return path


def packaged_bytes() -> bytes:
    return (ARTIFACT_DIR / ARTIFACT).with_suffix(".npz").read_bytes()


@pytest.mark.parametrize(
    "flags",
    [["--data", "{toy}"], ["--no-shared", "--data", "{toy}"], ["--set", "steps=1"], ["--seed", "3"]],
)
def test_train_never_overwrites_the_packaged_artifact_off_its_recipe(
    tmp_path: Path, flags: list[str]
) -> None:
    toy = toy_file(tmp_path / "toy.jsonl")
    before = packaged_bytes()
    out = run_cli("train", *(f.format(toy=toy) for f in flags))
    assert out.returncode == 2 and "pass --out PATH" in out.stderr and flags[0] in out.stderr
    one_line_error(out.stderr)
    assert packaged_bytes() == before
    assert "packaged artifact" in run_cli("train", "--help").stdout  # the help says where it writes


@pytest.mark.skipif(not shared_available(), reason="shared data not found")
def test_train_data_adds_to_the_shared_datasets_unless_no_shared(tmp_path: Path) -> None:
    toy = toy_file(tmp_path / "toy.jsonl")
    fast = ["--set", "steps=2"]
    both = run_cli("train", "--data", str(toy), "--out", str(tmp_path / "both"), *fast)
    assert both.returncode == 0, both.stderr
    meta = json.loads((tmp_path / "both.json").read_text())
    names = [d["name"] for d in meta["data"]]
    assert names == ["routerbench", "mmlu", "gsm8k", "arena-bench", "arena-battles", "toy"]
    assert meta["rows"] == sum(d["rows"] for d in meta["data"]) > 24
    assert meta["command"].startswith(f"satisfice train --data {toy} ")
    alone = run_cli("train", "--no-shared", "--data", str(toy), "--out", str(tmp_path / "alone"), *fast)
    assert alone.returncode == 0, alone.stderr
    meta = json.loads((tmp_path / "alone.json").read_text())
    assert [d["name"] for d in meta["data"]] == ["toy"] and meta["rows"] == 24
    assert (
        run_cli(
            "predict", "--models", MODELS, "--router", str(tmp_path / "alone.npz"), stdin=line("a")
        ).returncode
        == 0
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no records in it"),
        (
            '{"id": "a", "messages": [{"role": "user", "content": "x"}], "outcomes": {}}\n',
            ":1.outcomes: empty",
        ),
        ('{"id": "a", "messages": [{"role": "user", "content": "x"}]}\n', ":1.outcomes: required"),
    ],
)
def test_train_bad_data_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    data = tmp_path / "mine.jsonl"
    data.write_text(content)
    out = run_cli("train", "--no-shared", "--data", str(data), "--out", str(tmp_path / "m"))
    assert out.returncode == 2 and f"--data {data}" in out.stderr and message in out.stderr
    one_line_error(out.stderr)
    assert not (tmp_path / "m.npz").exists()


def test_train_bad_flags_are_clear_errors(tmp_path: Path) -> None:
    toy = str(toy_file(tmp_path / "toy.jsonl"))
    for args, message in [
        (["--no-shared"], "--no-shared needs at least one --data"),
        (["--no-shared", "--data", str(tmp_path), "--out", str(tmp_path / "m")], "is a directory"),
        (["--no-shared", "--data", toy, "--out", "/proc/nope/m"], "--out /proc/nope/m: cannot create"),
        (
            ["--no-shared", "--data", toy, "--out", str(tmp_path / "m"), "--set", "steps=x"],
            "expected an integer",
        ),
        *(
            (["--no-shared", "--data", toy, "--out", str(tmp_path / "m"), "--set", kv], want)
            for kv, want in [
                ("rank=-1", "training setting rank: expected a number at least 0, got -1"),
                ("steps=0", "training setting steps: expected a number at least 1, got 0"),
                ("l2_v=-1", "training setting l2_v: expected a number at least 0"),
                ("cue_blend=5", "training setting cue_blend: expected a number from 0 to 1, got 5"),
                ("lr=0", "training setting lr: expected a number above 0, got 0"),
                ("emb_dims=300", "training setting emb_dims: expected a number from 0 to 256"),
            ]
        ),
    ]:
        out = run_cli("train", *args)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
        one_line_error(out.stderr)


def test_train_resolves_loosely_written_model_names(tmp_path: Path) -> None:
    rows = [record_json(r) for r in _toy(24)]
    for r in rows:
        r["outcomes"] = {
            "Mistral_7B_Instruct": r["outcomes"]["mistral-7b-instruct"],
            "GPT-4-1106-Preview": r["outcomes"]["gpt-4-1106-preview"],
        }
    data = tmp_path / "loose.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = run_cli(
        "train", "--no-shared", "--data", str(data), "--out", str(tmp_path / "m"), "--set", "steps=2"
    )
    assert out.returncode == 0, out.stderr
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["models_seen"] == ["mistral-7b-instruct", "gpt-4-1106-preview"]


def test_two_spellings_of_a_model_and_an_unlisted_snapshot_are_predicted() -> None:
    """An unlisted snapshot of a listed model is predicted as that model, with a note on stderr;
    each spelling gets its own column."""
    models = "gpt-3.5-turbo-0301,gpt-3.5-turbo,GPT-3.5-Turbo,claude-instant-v1.2"
    out = run_cli("predict", "--models", models, stdin=line("a") + "\n")
    assert out.returncode == 0, out.stderr
    quality = json.loads(out.stdout)["quality"]
    assert list(quality) == models.split(",")
    assert quality["gpt-3.5-turbo-0301"] == quality["gpt-3.5-turbo"] == quality["GPT-3.5-Turbo"]
    assert out.stderr.splitlines() == [
        "note: --models: 'gpt-3.5-turbo-0301' is not in the catalog; predicted as gpt-3.5-turbo",
        "note: --models: 'claude-instant-v1.2' is not in the catalog; predicted as claude-instant-1.2",
    ]


def closed(redirect: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`satisfice ARGS` run from a shell with a standard stream closed (`<&-`, `>&-`): Python then
    has no sys.stdin / sys.stdout at all (None)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env["PYTHONPATH"] = str(ROOT)
    command = " ".join(shlex.quote(a) for a in (sys.executable, "-m", "satisfice", *args))
    return subprocess.run(
        ["sh", "-c", f"{command} {redirect}"], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    ("redirect", "args", "message"),
    [
        ("<&-", ("predict", "--models", MODELS), "standard input is closed"),
        (">&-", ("predict", "--models", MODELS), "standard output is closed"),
        (">&-", ("data", "convert", "--dataset", "gsm8k", "--out", "-"), "standard output is closed"),
        (">&-", ("route", "Prove it", "--json"), "standard output is closed"),
    ],
)
def test_a_closed_standard_stream_is_a_clear_error(
    redirect: str, args: tuple[str, ...], message: str
) -> None:
    out = closed(redirect, *args)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    one_line_error(out.stderr)


def test_route_prompt_that_is_not_utf8_is_a_clear_error() -> None:
    """`satisfice route $'caf\\xe9'` from a Latin-1 terminal: the argument's bytes are not UTF-8."""
    out = run_cli("route", "caf\udce9 prove it", "--json")  # what Python makes of the byte 0xe9 in argv
    assert out.returncode == 2 and "the prompt is not UTF-8 (byte 0xe9 at byte 4)" in out.stderr, out.stderr
    one_line_error(out.stderr)


def test_a_repeated_id_is_predicted_and_noted() -> None:
    """Each line is predicted, in order; a judge pairing lines by id is told which id repeats."""
    rows = [("a", "hi"), ("b", "Prove that 2 + 2 = 4."), ("a", "hello there")]
    stdin = "".join(
        json.dumps({"id": i, "messages": [{"role": "user", "content": t}]}) + "\n" for i, t in rows
    )
    out = run_cli("predict", "--models", MODELS, stdin=stdin)
    assert out.returncode == 0, out.stderr
    assert [json.loads(x)["id"] for x in out.stdout.splitlines()] == ["a", "b", "a"]
    assert out.stderr.strip() == 'note: line 3: id "a" is also on line 1'
