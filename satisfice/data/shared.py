"""Readers for the shared benchmark datasets, read in place (never copied into the repo).

The folder is `$SATISFICE_DATA`, else `../shared/data` beside the checkout or the working
directory. Model names are mapped to catalog ids through the catalog's aliases.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import os
from collections.abc import Iterator
from pathlib import Path

import orjson

from satisfice.catalog import load_catalog
from satisfice.data.records import Dataset, Outcome, Record

csv.field_size_limit(1 << 30)

# name -> (folder, description)
SHARED = {
    "routerbench": (
        "routerbench-subset",
        "RouterBench 0-shot subset: ARC-Challenge, MBPP, Winogrande x 11 models",
    ),
    "mmlu": ("routellm-evals", "MMLU (RouteLLM evals): Mixtral-8x7B vs GPT-4-1106 correctness"),
    "gsm8k": (
        "routellm-evals",
        "GSM8K (RouteLLM evals): Mixtral-8x7B vs GPT-4-1106 correctness, full answers",
    ),
    "arena-bench": (
        "arena-bench-v1",
        "Arena-Bench v1: 300 real chat prompts x 15 models, GPT-4 judge score / 10",
    ),
    "arena-battles": ("arena-battles-1k", "Chatbot Arena battles: pairwise human votes, 29 models"),
}
ALIASES = {
    "routerbench-subset": "routerbench",
    "arena-bench-v1": "arena-bench",
    "arena-battles-1k": "arena-battles",
    "routellm-mmlu": "mmlu",
    "routellm-gsm8k": "gsm8k",
}


def data_root() -> Path:
    env = os.environ.get("SATISFICE_DATA")
    if env:
        if not Path(env).is_dir():  # say which setting is wrong, not which file deep in it is missing
            raise FileNotFoundError(
                f"SATISFICE_DATA={env!r} is not a folder: set it to the one holding routerbench-subset/ etc."
            )
        return Path(env)
    here = Path(__file__).resolve().parents[2]  # the checkout (editable install)
    for cand in (
        here.parent / "shared" / "data",
        Path.cwd().parent / "shared" / "data",
        Path.cwd() / "shared" / "data",
    ):
        if cand.is_dir():
            return cand
    raise FileNotFoundError(
        "shared data not found: set SATISFICE_DATA to the folder holding routerbench-subset/ etc."
    )


def _rows(path: Path) -> Iterator[dict[str, str]]:
    if not path.is_file():
        where = "SATISFICE_DATA" if os.environ.get("SATISFICE_DATA") else "../shared/data"
        raise FileNotFoundError(f"{path} not found: is {where} the folder of the shared datasets?")
    with gzip.open(path, "rb") as f:
        yield from csv.DictReader(io.TextIOWrapper(f, encoding="utf-8"))


def canonical_model(name: str) -> str:
    """The catalog id for a dataset's model name (its alias), or the name itself when unknown."""
    found = load_catalog().lookup(name)
    return found[0].id if found else name


def _user(text: str) -> tuple[dict[str, str], ...]:
    return ({"role": "user", "content": text},)


def load_routerbench(root: Path) -> Dataset:
    path = root / "routerbench-subset" / "routerbench_subset.csv.gz"
    records: list[Record] = []
    models: list[str] = []
    short: list[str] = []
    for row in _rows(path):
        if not short:
            short = [k[len("score_") :] for k in row if k.startswith("score_")]
            models = [canonical_model(s) for s in short]
        if any(row[f"score_{s}"] == "" for s in short):
            continue  # 14 ARC rows have no scores in the source
        outcomes = {
            m: Outcome(float(row[f"score_{s}"]), float(row[f"cost_usd_{s}"]), row[f"response_{s}"])
            for s, m in zip(short, models, strict=True)
        }
        records.append(
            Record(row["prompt_id"], _user(row["prompt"]), outcomes, row["source"], row["routerdc_split"])
        )
    return Dataset("routerbench", records, models, description=SHARED["routerbench"][1])


def load_routellm(root: Path, name: str) -> Dataset:
    path = root / "routellm-evals" / f"{name}.csv.gz"
    weak, strong = canonical_model("mixtral_8x7b"), canonical_model("gpt4_1106")
    records = []
    for row in _rows(path):
        if row["contaminated"] == "1":
            continue  # RouteLLM's own exclusion (near-duplicates of its router training data)
        outcomes = {
            weak: Outcome(float(row["correct_mixtral_8x7b"]), None, row.get("response_mixtral_8x7b")),
            strong: Outcome(float(row["correct_gpt4_1106"]), None, row.get("response_gpt4_1106")),
        }
        records.append(Record(row["prompt_id"], _user(row["prompt"]), outcomes, name, None))
    return Dataset(name, records, [weak, strong], description=SHARED[name][1])


def load_arena_bench(root: Path) -> Dataset:
    folder = root / "arena-bench-v1"
    prompts = {r["prompt_id"]: r["prompt"] for r in _rows(folder / "prompts.csv.gz")}
    answers: dict[tuple[str, str], str] = {}
    with gzip.open(folder / "answers.jsonl.gz", "rb") as f:
        for line in f:
            a = orjson.loads(line)
            answers[(a["prompt_id"], a["model"])] = a.get("answer") or ""
    records = []
    names: list[str] = []
    for row in _rows(folder / "scores.csv.gz"):
        if not names:
            names = [k[len("score_") :] for k in row if k.startswith("score_")]
        outcomes = {
            canonical_model(n): Outcome(
                float(row[f"score_{n}"]) / 10.0, None, answers.get((row["prompt_id"], n))
            )
            for n in names
            if row[f"score_{n}"] != ""
        }
        records.append(
            Record(row["prompt_id"], _user(prompts[row["prompt_id"]]), outcomes, "arena-chat", None)
        )
    return Dataset(
        "arena-bench", records, [canonical_model(n) for n in names], description=SHARED["arena-bench"][1]
    )


def load_arena_battles(root: Path) -> Dataset:
    records = []
    models: dict[str, None] = {}
    votes = {"model_a": (1.0, 0.0), "model_b": (0.0, 1.0), "tie": (0.5, 0.5), "tie (bothbad)": (0.0, 0.0)}
    for row in _rows(root / "arena-battles-1k" / "battles.csv.gz"):
        a, b = canonical_model(row["model_a"]), canonical_model(row["model_b"])
        if a == b or row["winner"] not in votes:
            continue
        qa, qb = votes[row["winner"]]
        turns = orjson.loads(row["user_turns_json"]) if row.get("user_turns_json") else [row["prompt"]]
        messages = tuple(
            {"role": "user", "content": str(t)} for t in turns[:1]
        )  # the first turn is what was routed
        records.append(
            Record(row["prompt_id"], messages, {a: Outcome(qa), b: Outcome(qb)}, "arena-battle", None)
        )
        models[a] = models[b] = None
    return Dataset(
        "arena-battles", records, list(models), pairwise=True, description=SHARED["arena-battles"][1]
    )


def unique_ids(dataset: Dataset) -> Dataset:
    """The dataset with every id made unique: a source that repeats one (MMLU: 27 prompt_ids name
    two rows each) gets "#2", "#3" on the repeats, so each record can be named, and replayed, alone."""
    seen: dict[str, int] = {}
    records = []
    for r in dataset.records:
        k = seen[r.id] = seen.get(r.id, 0) + 1
        records.append(r if k == 1 else dataclasses.replace(r, id=f"{r.id}#{k}"))
    return dataclasses.replace(dataset, records=records)


def load_shared(name: str) -> Dataset:
    return unique_ids(_load_shared(name))


def _load_shared(name: str) -> Dataset:
    name = ALIASES.get(name, name)
    if name not in SHARED:
        raise KeyError(f"unknown dataset {name!r} (known: {', '.join(SHARED)})")
    root = data_root()
    if name == "routerbench":
        return load_routerbench(root)
    if name in ("mmlu", "gsm8k"):
        return load_routellm(root, name)
    if name == "arena-bench":
        return load_arena_bench(root)
    return load_arena_battles(root)
