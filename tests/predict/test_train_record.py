"""`satisfice train` over an existing artifact: weights it reproduces (byte for byte, or within another
CPU's rounding) leave the artifact and
its record (with the figures `scripts/train_router.py --report` measured on it) untouched; new weights get
a new record that carries no figures measured on the old ones."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from satisfice.catalog import load_catalog
from satisfice.predict import add_train_parser, load_predictor
from satisfice.predict.cli import _same_weights
from satisfice.predict.learned import ARTIFACT, ARTIFACT_DIR
from tests.evals.test_cli import shared_available
from tests.predict.test_predict_cli import toy_file

FIGURES = {"protocol": "measured on these weights", "learned": {"routerbench": {"accuracy": 0.5}}}


def train(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    assert args.func(args) == 0
    out: str = capsys.readouterr().out
    return out


def add_figures(stem: Path) -> bytes:
    """What `scripts/train_router.py --report` does after training: the figures go into the record."""
    js = stem.with_suffix(".json")
    meta = json.loads(js.read_text(encoding="utf-8"))
    meta["evaluation"] = FIGURES
    js.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return js.read_bytes()


def toy_args(tmp_path: Path, seed: int) -> list[str]:
    toy = toy_file(tmp_path / "toy.jsonl", 30)
    out = ["--no-shared", "--data", str(toy), "--out", str(tmp_path / "m"), "--seed", str(seed)]
    return [*out, "--set", "steps=20", "--set", "reference_per_family=5"]


def test_reproduced_weights_keep_the_record_and_its_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stem = tmp_path / "m"
    train(capsys, *toy_args(tmp_path, 1))
    weights, record = stem.with_suffix(".npz").read_bytes(), add_figures(stem)
    out = train(capsys, *toy_args(tmp_path, 1))
    assert stem.with_suffix(".npz").read_bytes() == weights
    assert stem.with_suffix(".json").read_bytes() == record  # figures, timestamp, command: all as they were
    assert "unchanged" in out and "wrote" not in out


def test_new_weights_get_a_record_without_the_old_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stem = tmp_path / "m"
    train(capsys, *toy_args(tmp_path, 1))
    weights = stem.with_suffix(".npz").read_bytes()
    add_figures(stem)
    out = train(capsys, *toy_args(tmp_path, 2))
    assert stem.with_suffix(".npz").read_bytes() != weights
    meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    assert "evaluation" not in meta  # they were measured on the seed-1 weights
    assert meta["seed"] == 2 and "--seed 2" in meta["command"]
    assert "wrote" in out and "--report" in out  # says the figures are gone and how to measure them


def test_new_artifact_without_a_previous_one_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = train(capsys, *toy_args(tmp_path, 1))
    assert "wrote" in out and "--report" not in out
    assert "evaluation" not in json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))


def test_a_dot_in_the_artifact_name_is_part_of_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--out models/router-v1.0` and `router-v1.1` are two artifacts (a suffix was cut before, so the
    second overwrote the first, and `--router models/router-v1.0` loaded v1.1's weights)."""
    models = tmp_path / "models"
    for version, seed in (("1.0", 1), ("1.1", 2)):
        args = toy_args(tmp_path, seed)
        args[args.index("--out") + 1] = str(models / f"router-v{version}")
        assert f"router-v{version}.npz" in train(capsys, *args)
    assert sorted(p.name for p in models.iterdir()) == [
        "router-v1.0.json", "router-v1.0.npz", "router-v1.1.json", "router-v1.1.npz",
    ]  # fmt: skip
    assert (models / "router-v1.0.npz").read_bytes() != (models / "router-v1.1.npz").read_bytes()
    gpt4 = load_catalog().lookup("gpt-4-1106-preview")[:1]
    prompt = [{"role": "user", "content": "Prove that the integral of x^3 * sin(x) converges"}]
    v10, v10_npz, v11 = (
        float(load_predictor(str(models / name)).predict(prompt, gpt4)[0])
        for name in ("router-v1.0", "router-v1.0.npz", "router-v1.1")
    )
    assert v10 == v10_npz != v11  # each name loads its own weights
    assert json.loads((models / "router-v1.0.json").read_text(encoding="utf-8"))["seed"] == 1


def test_the_record_hashes_data_read_from_a_pipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--data <(...)` can be read once: the record hashed the emptied pipe (sha256 of nothing)."""
    args = toy_args(tmp_path, 1)
    toy = Path(args[args.index("--data") + 1])
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(toy.read_bytes()))
    writer.start()
    args[args.index("--data") + 1] = str(fifo)
    train(capsys, *args)
    writer.join(timeout=10)
    source = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))["data"][0]["source"]
    assert source == {"pipe.jsonl": hashlib.sha256(toy.read_bytes()).hexdigest()}


@pytest.mark.skipif(not shared_available(), reason="shared data not found")
def test_the_packaged_recipe_reproduces_the_shipped_artifact_and_keeps_its_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: `satisfice train` reproduces the shipped artifact byte for byte; the rebuild must not strip
    the figures docs/router.md says its record holds (run on a copy, so the tree is never touched)."""
    packaged = ARTIFACT_DIR / ARTIFACT
    stem = tmp_path / ARTIFACT
    for suffix in (".npz", ".json"):
        shutil.copyfile(packaged.with_suffix(suffix), stem.with_suffix(suffix))
    record = stem.with_suffix(".json").read_bytes()
    assert "evaluation" in json.loads(record)
    out = train(capsys, "--out", str(stem))
    assert stem.with_suffix(".npz").read_bytes() == packaged.with_suffix(".npz").read_bytes()
    assert stem.with_suffix(".json").read_bytes() == record
    assert "unchanged" in out


def _npz(**arrays: Any) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_weights_within_another_cpus_rounding_are_the_same_weights() -> None:
    """Retrained on another kind of CPU, the shipped weights came back within float rounding
    (float64 within 2e-5 relative, float16 one ulp apart): the same model, so the artifact and its
    measured figures are kept. A real change, or another shape, dtype or array, is new weights."""
    w = np.linspace(-2.0, 2.0, 50)
    ref = np.linspace(0.0, 0.03, 20).astype(np.float16)
    old = _npz(W=w, ref_x=ref, n=np.arange(3))
    one_ulp = np.nextafter(ref, np.float16(1.0))
    assert _same_weights(old, _npz(W=w * (1 + 2e-5), ref_x=one_ulp, n=np.arange(3)))
    assert not _same_weights(old, _npz(W=w * 1.01, ref_x=ref, n=np.arange(3)))
    assert not _same_weights(old, _npz(W=w, ref_x=ref + np.float16(0.01), n=np.arange(3)))
    assert not _same_weights(old, _npz(W=w, ref_x=ref, n=np.arange(3) + 1))
    assert not _same_weights(old, _npz(W=w.astype(np.float32), ref_x=ref, n=np.arange(3)))
    assert not _same_weights(old, _npz(W=w, ref_x=ref))
