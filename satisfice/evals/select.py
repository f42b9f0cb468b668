"""Which models an evaluation replays, and so which prompts it keeps.

A prompt can be replayed only on models with an outcome for it. `--models A,B,...` names the models;
without it every model of the data is used when that keeps at least half of the prompts (a mostly
dense file: arena-bench keeps 271 of 300), else the models of the prompts that keep the most (one
stray model on 3 of 200 prompts is left out, not 197 prompts). Dropped prompts are counted and
explained in `notes`, which the CLI prints on stderr.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from satisfice.data.records import Dataset
from satisfice.evals.replay import EvalError

HOW_FLAG = "--models"
HOW_ALL = "every model in the data"
HOW_AUTO = "chosen: the models that keep the most prompts"


@dataclass(slots=True)
class Choice:
    models: list[str]
    how: str  # HOW_FLAG, HOW_ALL or HOW_AUTO
    notes: list[str] = field(default_factory=list)  # for the user: what was dropped and why


def parse_models(text: str | None) -> list[str]:
    """`--models A,B,...` as catalog ids (names read loosely, as in the data files), in order."""
    from satisfice.data.jsonl import model_id

    given = [n.strip() for n in (text or "").split(",") if n.strip()]
    seen: dict[str, str] = {}
    for name in given:
        found = model_id(name)
        if found in seen:  # say so, rather than "name at least two models" when only two were named
            raise EvalError(f"--models: {seen[found]!r} and {name!r} are one model ({found}), given twice")
        seen[found] = name
    return list(seen)


def require_records(ds: Dataset) -> None:
    if not ds.records:
        raise EvalError(f"{ds.name}: no records (the file is empty or blank)")


def choose_models(ds: Dataset, wanted: Sequence[str] = ()) -> Choice:
    """The models to replay `ds` on (see the module doc); EvalError when no two models can be compared."""
    require_records(ds)
    choice = Choice(_checked(ds, wanted), HOW_FLAG) if wanted else _auto(ds)
    kept = _kept(ds, choice.models)
    if kept == 0:
        raise EvalError(
            f"{ds.name}: no prompt has an outcome for every one of {', '.join(choice.models)}, so it "
            "cannot be replayed as a prompt x model matrix"
        )
    dropped = len(ds.records) - kept
    if dropped:
        choice.notes.append(
            f"{dropped} of {len(ds.records)} prompts dropped: they lack an outcome for at least one of "
            f"the {len(choice.models)} evaluated models ({choice.how})"
        )
    return choice


def _checked(ds: Dataset, wanted: Sequence[str]) -> list[str]:
    unknown = [m for m in wanted if m not in ds.models]
    if unknown:
        raise EvalError(
            f"--models: no outcome for {', '.join(unknown)} in {ds.name} (its models: {', '.join(ds.models)})"
        )
    if len(wanted) < 2:
        raise EvalError("--models: name at least two models to compare")
    return list(wanted)


def _kept(ds: Dataset, models: Sequence[str]) -> int:
    return sum(all(m in r.outcomes for m in models) for r in ds.records)


def _auto(ds: Dataset) -> Choice:
    everyone = list(ds.models)
    if len(everyone) < 2:
        raise EvalError(f"{ds.name}: needs outcomes for at least two models, found {len(everyone)}")
    n, full = len(ds.records), _kept(ds, everyone)
    if 2 * full >= n:
        return Choice(everyone, HOW_ALL)
    # Candidates: each model set some prompt has in full; a set keeps every prompt holding it.
    sets = Counter(frozenset(r.outcomes) for r in ds.records if len(r.outcomes) >= 2)
    if not sets:
        raise EvalError(f"{ds.name}: no prompt has outcomes for two models: nothing to compare")
    kept = {s: sum(c for t, c in sets.items() if s <= t) for s in sets}
    best = max(sets, key=lambda s: (kept[s], len(s)))  # ties: more models, then the first seen
    models = [m for m in everyone if m in best]
    note = (
        f"only {full} of {n} prompts have an outcome for all {len(everyone)} models of the data; "
        f"evaluating {', '.join(models)} instead ({kept[best]} prompts). Choose others with "
        "--models A,B,..."
    )
    return Choice(models, HOW_AUTO, [note])


def pairwise_subset(ds: Dataset, wanted: Sequence[str]) -> tuple[Dataset, list[str]]:
    """Pairwise votes between the `wanted` models only (all of them without --models), and a note on
    the votes left out."""
    require_records(ds)
    if not wanted:
        return ds, []
    models = _checked(ds, wanted)
    records = [r for r in ds.records if all(m in models for m in r.outcomes)]
    if not records:
        raise EvalError(f"--models: no vote in {ds.name} is between two of {', '.join(models)}")
    dropped = len(ds.records) - len(records)
    note = f"{dropped} of {len(ds.records)} votes dropped: not between two of the --models"
    return dataclasses.replace(ds, records=records, models=models), [note] if dropped else []
