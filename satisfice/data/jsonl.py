"""The canonical JSONL format: read, validate (errors name the line and key), write."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
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


ROLES = ("system", "developer", "user", "assistant", "tool", "function")  # OpenAI chat roles
VOTES = ((1.0, 0.0), (0.0, 1.0), (0.5, 0.5), (0.0, 0.0))  # win, loss, tie, both bad


_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # as orjson: NaN and Infinity are not numbers in JSON


def _scrub(obj: Any) -> Any:
    """Every lone surrogate in the object's strings replaced by U+FFFD."""
    if isinstance(obj, str):
        if _SURROGATE.search(obj) is None:
            return obj
        return obj.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(obj, list):
        return [_scrub(v) for v in obj]
    if isinstance(obj, dict):
        return {_scrub(k): _scrub(v) for k, v in obj.items()}
    return obj


def load_line(line: bytes | str) -> Any:
    """One JSON line, parsed by orjson. A line it refuses only for a lone surrogate escape
    (`\\ud83d` without its pair: text cut mid-emoji, which Python's parser and many writers accept)
    is read by the stdlib parser, each lone surrogate becoming U+FFFD, so that its prompt is still
    predicted. Raises orjson.JSONDecodeError."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        if "surrogate in string" not in e.msg:  # ("surrogates not allowed": bytes that are not UTF-8)
            raise
        try:
            return _scrub(json.loads(line, parse_constant=_no_constant))
        except (ValueError, RecursionError):
            raise e from None


def json_problem(line: bytes | str, e: orjson.JSONDecodeError) -> str:
    """What is wrong with a line orjson refused: bytes that are not UTF-8 are named as such (orjson
    says "surrogates not allowed at column 1" of them), anything else is orjson's message."""
    if isinstance(line, bytes):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"not UTF-8 (byte 0x{line[bad.start]:02x} at column {bad.start + 1})"
    return f"not valid JSON ({e.msg} at column {e.colno})"


class _Literal(str):
    """A JSON number's text as written (the stdlib parser's parse_int / parse_float hook)."""


def number_text(line: bytes | str, value: int | float) -> str:
    """The JSON text of the numeric `id` of the object on `line`, as written: orjson reads
    12345678901234567890123, 2**64, 1E2 or 1.00 as a float and -0 as 0, so such an id is read again,
    keeping its literal. Any other int came from an integer literal, which its decimal form is. A
    line nested too deeply for the stdlib parser (orjson takes 1,024 levels) keeps orjson's text."""
    if type(value) is int and value != 0:
        return str(value)
    try:
        literal = json.loads(line, parse_int=_Literal, parse_float=_Literal).get("id")
    except RecursionError:
        literal = None
    return str(literal) if isinstance(literal, _Literal) else orjson.dumps(value).decode()


def record_id(raw: Any, where: str, line: bytes | str = b"") -> str:
    """The id as text. A number is read as its JSON text as written on `line` (`1` -> "1", `1E2` ->
    "1E2"), as `satisfice predict` echoes it; so `1` and `"1"` name the same prompt."""
    if raw is None:
        raise DataFormatError(f"{where}.id: required (a string or a number)")
    if isinstance(raw, str):
        return raw
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return number_text(line, raw) if line else orjson.dumps(raw).decode()
    raise DataFormatError(f"{where}.id: expected a string or a number, got {orjson.dumps(raw).decode()}")


def _messages(raw: Any, where: str) -> tuple[dict[str, Any], ...]:
    """OpenAI chat messages; a role outside the API's (e.g. "human") is an error here, not a silent
    empty prompt later: the router routes on the user's turns."""
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        raise DataFormatError(f"{where}.messages: expected a non-empty list of chat messages")
    for j, m in enumerate(raw):
        role = m.get("role")
        if role not in ROLES:
            raise DataFormatError(
                f"{where}.messages[{j}].role: expected one of {', '.join(ROLES)} (OpenAI chat roles), "
                f"got {orjson.dumps(role).decode()}"
            )
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise DataFormatError(f"{where}.messages[{j}].content: expected a string or a list of parts")
    if not any(m["role"] == "user" for m in raw):
        raise DataFormatError(f'{where}.messages: no message with role "user" (the prompt to route)')
    return tuple(raw)


def parse_record(obj: Any, where: str, line: bytes | str = b"") -> Record:
    """A record from its parsed object (`line`: its JSON text, for a numeric id's literal)."""
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected a JSON object")
    rid = record_id(obj.get("id"), where, line)
    messages = _messages(obj.get("messages"), where)
    outcomes = _outcomes(obj, where)
    family = obj.get("family") or ""
    split = obj.get("split")  # "Train" and " test" are read as train and test
    return Record(rid, messages, outcomes, str(family), None if split is None else str(split).strip().lower())


def iter_records(lines: Iterable[bytes | str], source: str = "<input>") -> Iterator[Record]:
    first_line: dict[str, tuple[int, Any]] = {}  # id -> (line, id as written): ids name one prompt each
    for i, line in enumerate(lines, 1):
        if i == 1:
            line = line.removeprefix(BOM) if isinstance(line, bytes) else line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            obj = load_line(line)
        except orjson.JSONDecodeError as e:
            raise DataFormatError(f"{source}:{i}: {json_problem(line, e)}") from None
        record = parse_record(obj, f"{source}:{i}", line)
        seen, written = first_line.setdefault(record.id, (i, obj["id"]))
        if seen != i:
            raise DataFormatError(f"{source}:{i}.id: {_duplicate(record.id, written, obj['id'], seen)}")
        yield record


def _duplicate(rid: str, first: Any, again: Any, line: int) -> str:
    message = f"{rid!r} is already the id of line {line}"
    if type(first) is not type(again):  # 1 and "1": say why they collide
        message += f" (written {orjson.dumps(first).decode()} there; a number id is read as its text)"
    return message


def read_jsonl(path: str | Path) -> Dataset:
    p = Path(path)
    if p.is_dir():
        raise DataFormatError(f"{p}: is a directory; expected a canonical JSONL file")
    digest = hashlib.sha256()  # of the bytes read: a pipe cannot be read again to hash it

    def hashed(f: IO[bytes]) -> Iterator[bytes]:
        for line in f:
            digest.update(line)
            yield line

    try:
        with p.open("rb") as f:
            records = list(iter_records(hashed(f), str(p)))
    except OSError as e:
        raise DataFormatError(f"{p}: cannot read it ({e.strerror or e})") from None
    models: dict[str, None] = {}
    for r in records:
        for m in r.outcomes:
            models[m] = None
    dense = all(len(r.outcomes) == len(models) for r in records)
    pairwise = not dense and all(map(is_vote, records))
    # A file name's bytes that are not UTF-8 are lone surrogates in Python, which neither the result's
    # JSON nor the plot's title can hold: the dataset's name shows U+FFFD for them instead.
    name = os.fsencode(p.stem).decode("utf-8", "replace")
    return Dataset(name, records, list(models), pairwise=pairwise, meta={"sha256": digest.hexdigest()})


def is_vote(record: Record) -> bool:
    """A human vote between two models: 1/0, 0/1, a tie 0.5/0.5 or "both bad" 0/0. Two graded
    outcomes (0.37 / 0.82) are measurements, to be replayed, not a vote."""
    if len(record.outcomes) != 2:
        return False
    return tuple(o.quality for o in record.outcomes.values()) in VOTES


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
