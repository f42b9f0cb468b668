"""The canonical JSONL format: read, validate (errors name the line and key), write."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from satisfice.data.records import Dataset, Outcome, Record


class DataFormatError(ValueError):
    pass


BOM = b"\xef\xbb\xbf"


@functools.lru_cache(maxsize=4096)
def model_id(name: str) -> str:
    """The catalog id for a model name written loosely ("GPT-4-1106-Preview", "mixtral_8x7b_instruct",
    an alias); a name the catalog does not know stays as it is (unlike `satisfice predict`, an
    unlisted snapshot is not read as its model: its outcomes are its own)."""
    from satisfice.catalog import load_catalog

    found = load_catalog().lookup_loose(name)
    return found[0].id if found else name


def _outcomes(raw: Any, where: str) -> dict[str, Outcome]:
    if "outcomes" not in raw:
        raise DataFormatError(f"{where}.outcomes: required (an object keyed by model)")
    obj = raw["outcomes"]
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}.outcomes: expected an object keyed by model")
    if not obj:
        raise DataFormatError(f"{where}.outcomes: empty; give at least one model's outcome")
    out: dict[str, Outcome] = {}
    spelled: dict[str, str] = {}
    for name, o in obj.items():
        mid = model_id(str(name))
        if mid in out:
            raise DataFormatError(
                f"{where}.outcomes: {spelled[mid]!r} and {name!r} are the same model ({mid})"
            )
        out[mid] = _outcome(o, f"{where}.outcomes.{name}")
        spelled[mid] = str(name)
    return out


def _outcome(obj: Any, where: str) -> Outcome:
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected an object with 'quality'")
    q = obj.get("quality")
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 <= q <= 1.0:
        raise DataFormatError(f"{where}.quality: expected a number in [0, 1], got {q!r}")
    cost = obj.get("cost_usd")
    if cost is not None and (isinstance(cost, bool) or not isinstance(cost, (int, float)) or cost < 0):
        raise DataFormatError(f"{where}.cost_usd: expected a number >= 0, got {cost!r}")
    resp = obj.get("response")
    if resp is not None and not isinstance(resp, str):
        raise DataFormatError(f"{where}.response: expected a string")
    return Outcome(float(q), None if cost is None else float(cost), resp)


def parse_record(obj: Any, where: str) -> Record:
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected a JSON object")
    rid = obj.get("id")
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise DataFormatError(f"{where}.id: required (string)")
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise DataFormatError(f"{where}.messages: expected a non-empty list of chat messages")
    outcomes = _outcomes(obj, where)
    family = obj.get("family") or ""
    split = obj.get("split")
    return Record(str(rid), tuple(messages), outcomes, str(family), None if split is None else str(split))


def iter_records(lines: Iterable[bytes | str], source: str = "<input>") -> Iterator[Record]:
    first_line: dict[str, int] = {}  # id -> the line it was first seen on: ids name one prompt each
    for i, line in enumerate(lines, 1):
        if i == 1:
            line = line.removeprefix(BOM) if isinstance(line, bytes) else line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise DataFormatError(f"{source}:{i}: not valid JSON ({e})") from None
        record = parse_record(obj, f"{source}:{i}")
        seen = first_line.setdefault(record.id, i)
        if seen != i:
            raise DataFormatError(f"{source}:{i}.id: {record.id!r} is already the id of line {seen}")
        yield record


def read_jsonl(path: str | Path) -> Dataset:
    p = Path(path)
    if p.is_dir():
        raise DataFormatError(f"{p}: is a directory; expected a canonical JSONL file")
    try:
        with p.open("rb") as f:
            records = list(iter_records(f, str(p)))
    except OSError as e:
        raise DataFormatError(f"{p}: cannot read it ({e.strerror or e})") from None
    models: dict[str, None] = {}
    for r in records:
        for m in r.outcomes:
            models[m] = None
    dense = all(len(r.outcomes) == len(models) for r in records)
    return Dataset(
        p.stem, records, list(models), pairwise=not dense and all(len(r.outcomes) == 2 for r in records)
    )


def record_json(r: Record) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": r.id,
        "messages": list(r.messages),
        "outcomes": {
            m: {
                k: v
                for k, v in (("quality", o.quality), ("cost_usd", o.cost_usd), ("response", o.response))
                if v is not None
            }
            for m, o in r.outcomes.items()
        },
    }
    if r.family:
        out["family"] = r.family
    if r.split is not None:
        out["split"] = r.split
    return out


def write_jsonl(records: Iterable[Record], out: IO[bytes]) -> int:
    n = 0
    for r in records:
        out.write(orjson.dumps(record_json(r)) + b"\n")
        n += 1
    return n


def load_dataset(name_or_path: str) -> Dataset:
    """A shared dataset by name, or a canonical JSONL file by path."""
    from satisfice.data.shared import ALIASES, SHARED, load_shared

    if name_or_path in SHARED or name_or_path in ALIASES:
        return load_shared(name_or_path)
    if Path(name_or_path).exists():
        return read_jsonl(name_or_path)
    raise FileNotFoundError(f"{name_or_path!r} is neither a dataset name ({', '.join(SHARED)}) nor a file")
