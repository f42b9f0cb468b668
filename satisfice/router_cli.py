"""`satisfice route` (a dry run of one prompt through a route) and `satisfice predict` (batch
quality predictions: the stable interface the router is judged through)."""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from satisfice.catalog import Catalog, ModelInfo, load_catalog
from satisfice.catalog.catalog import loose_name
from satisfice.data.jsonl import json_problem, load_line, number_text
from satisfice.errors import GatewayError

BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark some editors put at the start of a file


def add_route_parser(sub: Any) -> None:
    from satisfice.cli import positive_int

    p = sub.add_parser("route", help="dry run: which model a route would pick for a prompt, and why")
    p.add_argument("prompt", help="the user message")
    p.add_argument("--route", default="auto")
    p.add_argument(
        "--knob", help="override the route's knob, e.g. quality=0.9, loss=0.05, share=0.3, wtp=0.01"
    )
    p.add_argument("--max-tokens", type=positive_int, help="the request's max_tokens (at least 1)")
    p.add_argument("--config")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_route)


def cmd_route(args: argparse.Namespace) -> int:
    from satisfice.config import load_settings
    from satisfice.routing.constraints import needs_of
    from satisfice.wiring import build

    raw = os.fsencode(args.prompt)  # argv bytes that are not UTF-8 reach Python as lone surrogates,
    try:  # which no tokenizer or JSON encoder takes: say so, as `predict` does for such a line
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        print(
            f"error: the prompt is not UTF-8 (byte 0x{raw[e.start]:02x} at byte {e.start + 1})",
            file=sys.stderr,
        )
        return 2
    parts = build(load_settings(args.config), with_ledger=False)
    body: dict[str, Any] = {"model": args.route, "messages": [{"role": "user", "content": args.prompt}]}
    if args.max_tokens is not None:
        body["max_tokens"] = args.max_tokens
    try:
        plan = parts.planner.plan(args.route, needs_of(body), args.knob)
    except GatewayError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    order = list(dict.fromkeys(t.dep.model for t in plan.targets))
    # The chosen candidate as the route writes it ("openai/gpt-4o-mini"), not its deployment's name.
    chosen = plan.candidate(plan.targets[0].dep.provider, plan.targets[0].dep.model)
    out = {
        "route": plan.route,
        "strategy": plan.strategy,
        "knob": plan.knob,
        "choice": order[0],
        "candidate": chosen,
        "provider": plan.targets[0].dep.provider,
        "reason": plan.reason,
        "fallback_order": order,
        "candidates": [
            {"model": m, "predicted_quality": round(q, 4), "estimated_cost_usd": c}
            for m, (q, c) in (plan.scores or {}).items()
        ],
    }
    if args.json:
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"route {plan.route} ({plan.strategy}{', ' + plan.knob if plan.knob else ''})")
    if plan.scores:
        print(f"  {'candidate':<34} {'predicted':>9} {'est. cost $':>12}")
        for m, (q, c) in sorted(plan.scores.items(), key=lambda kv: kv[1][1]):
            mark = "->" if m == chosen else "  "
            print(f"{mark}{m[:34]:<34} {q:>9.3f} {c:>12.7f}")
    else:
        print("  fallback order: " + ", ".join(order))
    print(f"choice: {order[0]} via {out['provider']}")
    print(f"reason: {plan.reason}")
    return 0


def add_predict_parser(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="predicted quality per model for JSONL prompts on stdin",
        description='Read lines {"id": ..., "messages": [...]} (optionally with OpenAI-style "tools" and '
        '"response_format") on stdin and write {"id": ..., "quality": {"MODEL": p}} per line on stdout, '
        "in input order, the id exactly as written. A bad line is reported on stderr as `line N: ...` and "
        "skipped (the others are still predicted); the exit code is then 2.",
    )
    p.add_argument(
        "--models",
        required=True,
        help="comma-separated catalog ids, e.g. gpt-4-1106-preview,mixtral-8x7b-instruct",
    )
    p.add_argument(
        "--router",
        default="learned",
        help="learned | heuristic | random | prior | PATH.npz (from satisfice train)",
    )
    p.add_argument(
        "--config",
        metavar="PATH",
        help="a gateway config (YAML) whose `models:` entries describe models the catalog lacks or "
        "override its entries (quality_prior, prices, context_window, ...), as for the gateway",
    )
    p.set_defaults(func=cmd_predict)


class BadLine(ValueError):
    """One input line `satisfice predict` cannot predict for (it is skipped and reported)."""


@dataclass(frozen=True, slots=True)
class Line:
    """One good input line: what the prediction reads, and the id to echo."""

    id_json: bytes  # the id's JSON text as written: the judge pairs lines by id
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    response_format: dict[str, Any] | None


def predict_catalog(config: str | None) -> Catalog:
    """The packaged catalog; with --config, the gateway's (the file's `models:` applied as the gateway
    applies them), its entries put first so that a model the file describes is predicted from them."""
    if config is None:
        return load_catalog()
    from satisfice.config import load_settings
    from satisfice.wiring import build_catalog

    try:
        settings = load_settings(config)
        catalog = build_catalog(settings)
    except ValueError as e:  # ConfigError, CatalogError
        raise ValueError(f"--config: {e}") from None
    # Every entry has a provider and an id once applied; dict: in file order, once each.
    written = {id(m): m for e in settings.models if (m := catalog.get(str(e["provider"]), str(e["id"])))}
    if not written:
        return catalog
    return Catalog([*written.values(), *(m for m in catalog if id(m) not in written)])


def trained_models(predictor: Any) -> tuple[str, ...]:
    """The model names a learned artifact was trained on (its per-model residuals)."""
    from satisfice.predict.learned import LearnedPredictor

    return tuple(predictor.params.seen) if isinstance(predictor, LearnedPredictor) else ()


def resolve_model(name: str, catalog: Catalog, trained: Sequence[str]) -> tuple[ModelInfo | None, str]:
    """The entry `name` is predicted from and the spelling that matched. The catalog read loosely comes
    first, then a model the artifact was trained on under a name the catalog lacks (with the stand-in
    features training gave it), then a snapshot or hub spelling of a catalog model. A model several
    providers serve is predicted from one entry whichever alias names it (`Catalog.canonical`)."""
    found = catalog.lookup_loose(name)
    if found:
        return catalog.canonical(found[0]), name
    own = next((t for t in trained if loose_name(t) == loose_name(name)), None)
    if own is not None:
        from satisfice.predict.model_features import neutral_info  # numpy: not for every CLI command

        return neutral_info(own), name
    found, matched = catalog.lookup_versionless(name)
    return (catalog.canonical(found[0]) if found else None), matched


def resolve_models(
    names: list[str], catalog: Catalog | None = None, trained: Sequence[str] = ()
) -> list[ModelInfo]:
    """Catalog entries for --models, read loosely (case, '_' for '-', a snapshot's version tag the
    catalog does not list, a model hub's "org/" prefix), as chat models. Two spellings of one model are
    fine (each gets its own column); one name given twice is not. ValueError names the flag and the
    model at fault."""
    catalog = catalog or load_catalog()
    if not names:
        raise ValueError("--models: no model given (a comma-separated list of catalog ids)")
    out: list[ModelInfo] = []
    seen: set[str] = set()
    for name in names:
        info, matched = resolve_model(name, catalog, trained)
        if info is None:
            raise ValueError(
                f"--models: unknown model {name!r}: not in the catalog (see `satisfice models`) nor "
                "trained into --router; describe it in a --config file's `models:` section (id, provider, "
                "input_per_mtok, output_per_mtok, context_window, quality_prior: an MMLU-like accuracy)"
            )
        if info.kind != "chat":
            raise ValueError(
                f"--models: {name!r} is an {info.kind} model, not a chat model: it has no answer quality"
            )
        if name in seen:
            raise ValueError(f"--models: {name!r} is given twice")
        seen.add(name)
        if matched != name:
            print(f"note: --models: {name!r} is not in the catalog; predicted as {info.id}", file=sys.stderr)
        out.append(info)
    return out


def _tools(obj: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = obj.get("tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)):
        raise BadLine(
            "'tools' must be a list of tool objects (OpenAI's shape: "
            '[{"type": "function", "function": {"name": ..., "parameters": {...}}}])'
        )
    return tools


def _response_format(obj: dict[str, Any]) -> dict[str, Any] | None:
    fmt = obj.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str)):
        raise BadLine(
            "'response_format' must be an object with a string 'type' (OpenAI's shape: "
            '{"type": "text" | "json_object" | "json_schema", ...})'
        )
    return fmt


def parse_line(raw: bytes) -> Line:
    """What one input line asks; BadLine says what is wrong with it."""
    try:
        obj = load_line(raw)
    except orjson.JSONDecodeError as e:
        raise BadLine(json_problem(raw, e)) from None
    if not isinstance(obj, dict):
        raise BadLine(f"expected a JSON object with 'id' and 'messages', got {type(obj).__name__}")
    rid = obj.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (str, int, float)):
        got = "missing" if "id" not in obj else f"got {orjson.dumps(rid).decode()[:40]}"
        raise BadLine(f"'id' must be a string or a number ({got})")
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise BadLine("'messages' must be a non-empty list of chat messages")
    id_json = orjson.dumps(rid) if isinstance(rid, str) else number_text(raw, rid).encode()
    return Line(id_json, messages, _tools(obj), _response_format(obj))


def _load_router(name: str) -> Any:
    from satisfice.predict import load_predictor
    from satisfice.predict.learned import artifact_files

    if name.endswith(".npz") and not Path(name).is_file():
        raise ValueError(f"--router {name}: no such artifact file")
    try:
        return load_predictor(name)
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as e:
        if artifact_files(name)[0].is_file():
            raise ValueError(f"--router {name}: not an artifact written by `satisfice train`") from None
        raise ValueError(f"--router {name}: {e}") from None


def _setup(args: argparse.Namespace, names: list[str]) -> tuple[Any, list[ModelInfo]]:
    """The predictor and the candidates' entries; ValueError names the flag at fault."""
    catalog = predict_catalog(getattr(args, "config", None))
    predictor = _load_router(args.router)
    return predictor, resolve_models(names, catalog, trained_models(predictor))


def cmd_predict(
    args: argparse.Namespace, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None
) -> int:
    """Predictions for every good input line, in input order; each bad line is reported on stderr and
    skipped, and the exit code is 2 when there was one."""
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    try:
        predictor, models = _setup(args, names)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    # A reader that leaves (`| head`) ends the run quietly: satisfice.cli.main handles BrokenPipeError.
    src, dst = stdin or sys.stdin.buffer, stdout or sys.stdout.buffer
    bad, good = _predict_lines(src, dst, predictor, models, names)
    if bad:
        print(f"error: {bad} bad line(s) skipped; predictions written for the other {good}", file=sys.stderr)
        return 2
    return 0


CHECKED_IDS = 1_000_000  # ids kept to notice a repeated one (~100 MB at most)


def _predict_lines(
    src: IO[bytes], dst: IO[bytes], predictor: Any, models: list[ModelInfo], names: list[str]
) -> tuple[int, int]:
    """(bad, good) line counts. Each line goes through `predict` with its tools and response format,
    as the gateway's `auto` routing calls the predictor, so both agree on the same request."""
    bad = good = 0
    first_line: dict[bytes, int] = {}  # id -> the line it was first on
    for i, raw in enumerate(src, 1):
        if i == 1:
            raw = raw.removeprefix(BOM)
        if not raw.strip():
            continue
        try:
            line = parse_line(raw)
        except BadLine as e:
            print(f"error: line {i}: {e}", file=sys.stderr)
            bad += 1
            continue
        seen = first_line.get(line.id_json)
        if seen is not None:  # both are predicted, in order; a reader pairing lines by id should know
            print(f"note: line {i}: id {line.id_json.decode()} is also on line {seen}", file=sys.stderr)
        elif len(first_line) < CHECKED_IDS:
            first_line[line.id_json] = i
        row = predictor.predict(line.messages, models, tools=line.tools, response_format=line.response_format)
        quality = orjson.dumps({n: round(float(q), 6) for n, q in zip(names, row, strict=True)})
        dst.write(b'{"id":' + line.id_json + b',"quality":' + quality + b"}\n")
        good += 1
    dst.flush()
    return bad, good
