"""`satisfice predict` on what a judge's data may hold: tools and response formats, ids of any JSON number,
models the catalog lacks or names through another provider, and a reader that stops early."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from satisfice.catalog import load_catalog
from satisfice.data.jsonl import record_json
from satisfice.predict import load_predictor
from satisfice.predict.embed import DIM
from satisfice.predict.features import STAT_NAMES
from satisfice.predict.learned import ARTIFACT, ARTIFACT_DIR, LearnedPredictor
from satisfice.predict.model_features import as_info
from tests.predict.test_predict_cli import line, one_line_error
from tests.predict.test_predictor import _toy
from tests.test_auto_route import run_cli

MODELS = "gpt-4-1106-preview,mixtral-8x7b-instruct,claude-instant-1.2"
HI = [{"role": "user", "content": "hi"}]  # what `line(rid)` asks
PROMPT = [{"role": "user", "content": "List the three largest cities of France with their population."}]
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
JSON_FORMAT = {"type": "json_object"}
ROOT = Path(__file__).resolve().parents[2]


def predicted(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in stdout.splitlines()]


def tool_sensitive_artifact(tmp_path: Path) -> Path:
    """The packaged artifact with weight on the tools and JSON-format features (the shipped one has
    none: its training data has no tools), so that dropping them would show."""
    base = LearnedPredictor.load(ARTIFACT_DIR / ARTIFACT)
    params = base.params
    cols = list(params.cols)
    for name, weight in (("log_tools", 0.002), ("json_format", -0.001)):
        params.V[1, cols.index(2 * DIM + STAT_NAMES.index(name))] = weight  # row 1: the difficulty
    LearnedPredictor(params, base.meta).save(tmp_path / "tools")
    return tmp_path / "tools.npz"


@pytest.mark.parametrize("router", ["learned", "heuristic", "tools-artifact"])
def test_tools_and_response_format_are_predicted_as_the_gateway_passes_them(
    tmp_path: Path, router: str
) -> None:
    if router == "tools-artifact":
        router = str(tool_sensitive_artifact(tmp_path))
    extras: list[dict[str, Any]] = [
        {},
        {"tools": TOOLS},
        {"response_format": JSON_FORMAT},
        {"tools": TOOLS, "response_format": JSON_FORMAT},
        {"tools": None, "response_format": None},  # JSON nulls: as if absent
    ]
    stdin = "".join(json.dumps({"id": i, "messages": PROMPT, **x}) + "\n" for i, x in enumerate(extras))
    out = run_cli("predict", "--models", MODELS, "--router", router, stdin=stdin)
    assert out.returncode == 0, out.stderr
    rows = [list(r["quality"].values()) for r in predicted(out.stdout)]
    predictor = load_predictor(router)
    infos = [load_catalog().lookup(m)[0] for m in MODELS.split(",")]
    for row, x in zip(rows, extras, strict=True):
        tools, fmt = x.get("tools"), x.get("response_format")
        want = predictor.predict(PROMPT, infos, tools=tools, response_format=fmt)
        assert row == pytest.approx(np.round(want, 6), abs=1e-6), x
    assert rows[4] == rows[0]
    if router != "learned":  # the packaged artifact gives these features no weight
        assert rows[1] != rows[0] and rows[2] != rows[0] and rows[3] not in (rows[1], rows[2])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('"tools": {"type": "function"}', "'tools' must be a list of tool objects"),
        ('"tools": ["lookup"]', "'tools' must be a list of tool objects"),
        ('"response_format": "json"', "'response_format' must be an object with a string 'type'"),
        ('"response_format": {"schema": {}}', "'response_format' must be an object with a string 'type'"),
    ],
)
def test_a_bad_tools_or_response_format_is_a_bad_line(extra: str, message: str) -> None:
    bad = line("b")[:-1] + ", " + extra + "}"
    out = run_cli("predict", "--models", MODELS, stdin="\n".join([line("a"), bad, line("c")]) + "\n")
    assert out.returncode == 2
    assert [r["id"] for r in predicted(out.stdout)] == ["a", "c"]
    assert f"error: line 2: {message}" in out.stderr
    one_line_error(out.stderr)


IDS = (
    "12345678901234567890123",
    "18446744073709551616",  # 2**64
    "18446744073709551615",
    "-9223372036854775809",  # -2**63 - 1
    "1E2",
    "1.00",
    "-0",
    "0",
    "7",
    "-2.5e-3",
    '"007"',
    '"a\\"b"',
)


def test_ids_come_back_exactly_as_written() -> None:
    content = '"messages": [{"role": "user", "content": "What is 1.00 + 1E2?", "id": 5}]'
    stdin = "".join(f'{{"id": {rid}, {content}}}\n' for rid in IDS)
    out = run_cli("predict", "--models", MODELS, stdin=stdin)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [x.split(',"quality":')[0] for x in lines] == [f'{{"id":{rid}' for rid in IDS]
    assert [r["id"] for r in predicted(out.stdout)] == [json.loads(rid) for rid in IDS]


def test_a_deeply_nested_line_with_a_number_id_is_predicted() -> None:
    """orjson reads 1,024 levels, the stdlib parser (which recovers a number id's text) fewer: such a
    line crashed the run, and the lines after it were never predicted."""
    deep = (
        '{"id": 1.5, "messages": [{"role": "user", "content": "x"}], "extra": ' + "[" * 990 + "]" * 990 + "}"
    )
    out = run_cli("predict", "--models", MODELS, stdin=deep + "\n" + line("next", "hello") + "\n")
    assert out.returncode == 0, out.stderr
    assert [r["id"] for r in predicted(out.stdout)] == [1.5, "next"]


def test_a_lone_surrogate_escape_is_read_as_a_replacement_character() -> None:
    """Text cut mid-emoji ("\\ud83d" without its pair) is JSON Python's parser and many writers
    accept; orjson does not, and the line was skipped. NaN stays refused, as by orjson."""
    cut = '{"id": "a", "messages": [{"role": "user", "content": "cut \\ud83d here"}]}'
    replaced = line("a", "cut \ufffd here")
    out = run_cli("predict", "--models", MODELS, stdin=cut + "\n" + '{"id": "n", "x": NaN}\n')
    same = run_cli("predict", "--models", MODELS, stdin=replaced + "\n")
    assert out.returncode == 2 and "line 2: not valid JSON" in out.stderr
    assert out.stdout == same.stdout and [r["id"] for r in predicted(out.stdout)] == ["a"]


def test_a_line_that_is_not_utf8_is_named_so() -> None:
    """orjson calls a Latin-1 byte "surrogates not allowed at column 1"; the error names the byte."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    latin1 = '{"id": "a", "messages": [{"role": "user", "content": "caf\u00e9 au lait"}]}'.encode("latin-1")
    out = subprocess.run(
        [sys.executable, "-m", "satisfice", "predict", "--models", MODELS],
        input=latin1 + b"\n" + line("b", "ok").encode() + b"\n",
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2 and [r["id"] for r in predicted(out.stdout.decode())] == ["b"]
    column = latin1.index(b"\xe9") + 1
    assert f"error: line 1: not UTF-8 (byte 0xe9 at column {column})" in out.stderr.decode()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("command", [["predict", "--models", "gpt-4o"], ["route", "hi"]])
def test_a_full_disk_is_a_one_line_error(command: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with open("/dev/full", "w") as full:
        out = subprocess.run(
            [sys.executable, "-m", "satisfice", *command],
            input=line("a", "hello") + "\n",
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    assert out.returncode == 1
    assert "No space left on device" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_a_reader_that_stops_early_ends_the_run_quietly(tmp_path: Path) -> None:
    src = tmp_path / "many.jsonl"
    src.write_text("".join(line(f"q{i}", f"prompt number {i}") + "\n" for i in range(3000)))
    with src.open("rb") as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "satisfice", "predict", "--models", MODELS],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert json.loads(proc.stdout.readline())["id"] == "q0"
        proc.stdout.close()  # what `| head -1` does
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, stderr
    assert stderr == ""


CONFIG = """\
models:
  - {id: gemma-7b-it, provider: mine, input_per_mtok: 0.07, output_per_mtok: 0.07, context_window: 8192,
     quality_prior: PRIOR, family: gemma}
  - {id: mixtral-8x7b-instruct, provider: together, quality_prior: 0.5}
"""


def test_config_describes_models_the_catalog_lacks(tmp_path: Path) -> None:
    """A --config file's `models:` entries are applied as the gateway applies them; a model it
    describes is predicted from its entry, whichever provider's spelling names the model."""
    models = "gemma-7b-it,mixtral-8x7b-instruct,fireworks/mixtral-8x7b-instruct"
    rows = []
    for prior in ("0.643", "0.75"):
        config = tmp_path / f"satisfice-{prior}.yaml"
        config.write_text(CONFIG.replace("PRIOR", prior))
        out = run_cli("predict", "--models", models, "--config", str(config), stdin=line("a") + "\n")
        assert out.returncode == 0, out.stderr
        [row] = predicted(out.stdout)
        catalog = load_catalog().with_overrides(yaml.safe_load(config.read_text())["models"])
        entries = [catalog.get("mine", "gemma-7b-it"), catalog.get("together", "mixtral-8x7b-instruct")]
        want = load_predictor("learned").predict(HI, [e for e in entries if e is not None])
        assert list(row["quality"].values()) == pytest.approx(np.round([*want, want[1]], 6), abs=1e-6)
        rows.append(row["quality"])
    assert rows[1]["gemma-7b-it"] > rows[0]["gemma-7b-it"]  # the prior the config gives is read
    plain = run_cli("predict", "--models", "mixtral-8x7b-instruct", stdin=line("a") + "\n")
    assert predicted(plain.stdout)[0]["quality"]["mixtral-8x7b-instruct"] != rows[0]["mixtral-8x7b-instruct"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--config: "),
        ("models:\n  - {id: x, provider: mine}\n", "models[0].input_per_mtok: required key is missing"),
        ("models: {id: x}\n", "config.models: expected list"),
    ],
)
def test_a_bad_config_is_a_clear_error(tmp_path: Path, content: str | None, message: str) -> None:
    config = tmp_path / "c.yaml"
    if content is not None:
        config.write_text(content)
    out = run_cli("predict", "--models", MODELS, "--config", str(config), stdin=line("a") + "\n")
    assert out.returncode == 2 and out.stdout == "" and message in out.stderr, out.stderr
    one_line_error(out.stderr)


def test_an_unknown_model_error_says_how_to_describe_it() -> None:
    out = run_cli("predict", "--models", "gpt-4o,no-such-model-7b", stdin=line("a") + "\n")
    assert out.returncode == 2 and out.stdout == ""
    assert "unknown model 'no-such-model-7b'" in out.stderr and "--config" in out.stderr
    one_line_error(out.stderr)


def test_a_model_trained_into_an_artifact_is_predicted(tmp_path: Path) -> None:
    rows = [record_json(r) for r in _toy(24)]
    for r in rows:
        r["outcomes"]["my-own-model"] = r["outcomes"].pop("mistral-7b-instruct")
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    stem = tmp_path / "art"
    trained = run_cli("train", "--no-shared", "--data", str(data), "--out", str(stem), "--set", "steps=2")
    assert trained.returncode == 0, trained.stderr
    models = "my-own-model,My_Own_Model,gpt-4-1106-preview"
    out = run_cli("predict", "--router", f"{stem}.npz", "--models", models, stdin=line("a") + "\n")
    assert out.returncode == 0, out.stderr
    predictor = LearnedPredictor.load(stem, name="art")
    want = predictor.predict(HI, [as_info("my-own-model"), as_info("gpt-4-1106-preview")])
    got = predicted(out.stdout)[0]["quality"]
    assert list(got.values()) == pytest.approx([want[0], want[0], want[1]], abs=1e-6)
    packaged = run_cli("predict", "--models", "my-own-model", stdin=line("a") + "\n")
    assert packaged.returncode == 2 and "unknown model 'my-own-model'" in packaged.stderr


def test_a_model_gets_one_prediction_whichever_provider_names_it() -> None:
    """A model several providers serve at several prices is predicted from the entry training reads
    for its id (the catalog's first), whichever alias or provider names it."""
    spellings = [
        "llama-3.1-8b-instruct",
        "meta-llama/Meta-Llama-3.1-8B-Instruct",  # DeepInfra's alias
        "llama-3.1-8b-instant",  # Groq's
        "groq/llama-3.1-8b-instruct",
        "deepinfra/llama-3.1-8b-instruct",
    ]
    out = run_cli("predict", "--models", ",".join(spellings), stdin=line("a", "Explain TCP.") + "\n")
    assert out.returncode == 0, out.stderr
    quality = predicted(out.stdout)[0]["quality"]
    [want] = load_predictor("learned").predict(
        [{"role": "user", "content": "Explain TCP."}], [as_info("llama-3.1-8b-instruct")]
    )
    assert set(quality.values()) == {round(float(want), 6)}
    # The gateway still serves each alias from its own provider's entry.
    assert load_catalog().lookup("llama-3.1-8b-instant")[0].provider == "groq"


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("meta-llama/Meta-Llama-3-70B-Instruct", "llama-3-70b-instruct"),
        ("meta-llama-3-70b-instruct", "llama-3-70b-instruct"),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "llama-3-8b-instruct"),
        ("Meta-Llama-3.1-70B-Instruct", "llama-3.1-70b-instruct"),
        ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b-instruct"),
        ("mistralai/Mistral-7B-Instruct-v0.2", "mistral-7b-instruct"),
    ],
)
def test_model_hub_spellings_of_catalog_models_are_predicted(name: str, model: str) -> None:
    out = run_cli("predict", "--models", f"{name},{model}", stdin=line("a") + "\n")
    assert out.returncode == 0, out.stderr
    quality = predicted(out.stdout)[0]["quality"]
    assert quality[name] == quality[model]
