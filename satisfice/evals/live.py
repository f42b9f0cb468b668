"""`satisfice eval --live`: replay a dataset's prompts through the REAL gateway on 127.0.0.1.

The gateway is built by `satisfice.wiring.build` from a generated config: one `type: replay` provider
over the dataset (recorded answers at their recorded cost, `satisfice.providers.replay`), one route
(default `auto`: strategy auto over the dataset's models) and a SQLite ledger in a temp folder. It is
served in-process by aiohttp on a free loopback port; an aiohttp client sends OpenAI chat requests
(`--concurrency` at a time), one sweep point per knob (`x-satisfice-knob`). Each answer is scored with
the recorded quality of the model the gateway says answered; its cost, attempts and latency are the
gateway's own ledger row. No prompt is scored by a router trained on it: learned routers are fitted
on the train split (or on the other folds), saved as .npz and configured as the route's `router:`.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import orjson

from satisfice.config import CHOOSING, STRATEGIES, ConfigError, Settings, parse_settings
from satisfice.data.records import Record
from satisfice.evals.evaluate import _baselines, _shared_name, _two_model
from satisfice.evals.metrics import pgr
from satisfice.evals.progress import Progress
from satisfice.evals.protocols import artifact_protocol, cv_folds, unseen_training
from satisfice.evals.replay import EvalError, Replay, build_replay
from satisfice.evals.select import choose_models, require_records
from satisfice.evals.sweep import REPORTED_TARGETS, wtp_grid
from satisfice.providers.failures import NOT_SENT

if TYPE_CHECKING:
    from aiohttp import ClientSession

    from satisfice.wiring import Parts

IntArray = npt.NDArray[np.int64]
SHARES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
LATENCY_NOTE = (
    "ledger latency_ms: the gateway's own time per request (request read to ledger row), since the "
    "replay upstream answers at once; measured with {c} concurrent requests in one process shared "
    "with the load-generating client (use --concurrency 1 for the unloaded figure)"
)


@dataclass(slots=True)
class Fold:
    rows: IntArray  # indices into the replay's records: the prompts this gateway answers
    router: str  # the route's router: a predictor name or a fitted .npz artifact
    train: list[Record] | None = None  # fit on these first (then `router` is where to save)
    teach: IntArray | None = None  # `--learn`: served with feedback before `rows` (never scored)


def _split_for_learning(plan: list[Fold], records: Sequence[Record], seed: int) -> list[Fold]:
    """`--learn`: each fold's prompts, halved at random (seeded) by conversation (one conversation
    under two ids lands in one half): the first half teaches, the second is scored. The learner never
    grades a prompt with statistics learned from that prompt."""
    out = []
    for f in plan:
        groups: dict[str, list[int]] = {}
        for j in f.rows.tolist():
            groups.setdefault(records[j].conversation_text(), []).append(j)
        # In the permutation's order (with one prompt per conversation: the halves measured before).
        listed = list(groups.values())
        ordered = [listed[k] for k in np.random.default_rng(seed + 1).permutation(len(listed)).tolist()]
        teach: list[int] = []
        for rows in ordered:  # whole conversations, until half the prompts teach
            if 2 * (len(teach) + len(rows)) > f.rows.size:
                break
            teach += rows
        scored = sorted(set(f.rows.tolist()) - set(teach))
        if not teach or not scored:
            raise EvalError("--learn needs at least two different prompts per fold")
        out.append(Fold(np.array(scored, np.int64), f.router, f.train, np.array(sorted(teach), np.int64)))
    return out


@dataclass(slots=True)
class Teach:
    """`--learn`'s first phase: these requests are answered (each teaching prompt once, the knobs in
    turn), each answer gets the user's feedback (POST /v1/feedback), then the promotion gate runs
    once, before the scored requests."""

    jobs: list[tuple[str, Record]]
    grade: Callable[[Record, str], float | None]  # the recorded quality of a model's answer to a record


def _folds(
    full: Replay,
    router: str,
    folds: int | None,
    seed: int,
    limit: int | None,
    work: Path,
    shared: str | None = None,
) -> tuple[list[Fold], str, bool, int | None]:
    """The gateways to run, the protocol's words, whether the router saw the data, and the folds of
    a cross-validation (None: another protocol)."""
    n, records = full.n, full.records
    cap = n if limit is None else max(limit, 0)
    if router != "learned":
        rows = np.arange(min(cap, n), dtype=np.int64)
        if router == "learned-artifact":
            protocol, trained = artifact_protocol(shared)
            return [Fold(rows, "learned")], protocol, trained, None
        return [Fold(rows, router)], f"no training ({router}): all prompts scored", False, None
    test = np.array([i for i, r in enumerate(records) if r.split == "test"], dtype=np.int64)
    train = [r for r in unseen_training(records, test.tolist()) if r.split == "train"]
    if folds is None and train and test.size:
        protocol = f"split: {full.name} train→test ({len(train)} train, {test.size} scored)"
        others = sum(r.split not in ("train", "test") for r in records)
        if others:  # as offline: a split protocol uses train and test only
            protocol += f"; {others} records whose split is neither train nor test are left out"
        return [Fold(test[:cap], str(work / "router-split.npz"), train)], protocol, False, None
    parts, k, note = cv_folds(records, folds, seed)
    out = []
    for i, held in enumerate(parts):
        rows = held[held < cap]
        if rows.size:
            fit_on = unseen_training(records, held.tolist())
            out.append(Fold(rows, str(work / f"router-fold{i + 1}.npz"), fit_on))
    return (
        out,
        f"{k}-fold CV by prompt text{note}, seed {seed}: one gateway per fold, with that fold's "
        "fitted artifact",
        False,
        k,
    )


def _fit(fold: Fold, seed: int) -> None:
    from satisfice.predict import fit
    from satisfice.predict.learned import artifact_stem

    assert fold.train is not None
    save = getattr(fit(fold.train, seed=seed), "save", None)
    if not callable(save):
        raise EvalError("satisfice.predict.fit returned a predictor without save(): cannot serve it")
    save(artifact_stem(fold.router))


def default_knobs(full: Replay) -> list[str]:
    if len(full.models) == 2:
        return [f"share={s:g}" for s in SHARES]
    return [f"quality={t:g}" for t in REPORTED_TARGETS] + [f"wtp={w:g}" for w in wtp_grid(full.decision_cost)]


def _route_body(spec: str | None) -> dict[str, Any]:
    """--route: a strategy name, an inline YAML mapping ("{strategy: cascade, ...}"), or a YAML/JSON
    file holding a route's body."""
    if spec is None:
        return {"strategy": "auto"}
    if spec in STRATEGIES:  # a strategy name, even beside a file or folder of that name
        return {"strategy": spec}
    if spec.lstrip().startswith("{"):
        return _checked_body(spec, _yaml(spec, spec))
    path = Path(spec)
    looks_like_file = path.suffix.lower() in (".yaml", ".yml", ".json") or "/" in spec or "\\" in spec
    if not path.exists():
        if looks_like_file:
            raise EvalError(f"--route {spec}: file not found")
        return {"strategy": spec}
    if not path.is_file():
        raise EvalError(f"--route {spec}: not a file (expected a strategy name or a YAML route body)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"--route {spec}: cannot read it as YAML ({str(e).splitlines()[0]})") from None
    return _checked_body(spec, _yaml(spec, text))


def _yaml(spec: str, text: str) -> Any:
    import yaml

    from satisfice.config import yaml_problem

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise EvalError(f"--route {spec}: cannot read it as YAML ({yaml_problem(e)})") from None


def _checked_body(spec: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise EvalError(f"--route {spec}: expected a mapping (a route's body: strategy, candidates, ...)")
    if "router" in body:  # it would be replaced without a word
        raise EvalError(
            f"--route {spec}: leave 'router' out; the evaluation sets it from --router (a learned "
            "router is fitted without the scored prompts)"
        )
    return body


def _unknown_models(full: Replay) -> list[dict[str, Any]]:
    """Catalog entries for the data's models the catalog lacks, priced from the data's recorded
    costs (one price per token: their sum over the tokens counted in the prompts and answers), so
    that the gateway routes on what the data says they cost, as the offline replay does, not on the
    stand-in price of a model it does not know."""
    from satisfice.catalog import load_catalog
    from satisfice.tokens import count_prompt, count_text

    out = []
    for j, m in enumerate(full.models):
        if load_catalog().lookup(m):
            continue
        used = [r for r in full.records if r.outcomes[m].response is not None]
        tokens = sum(
            count_prompt({"messages": [dict(x) for x in r.messages]}, m)
            + count_text(r.outcomes[m].response or "", m)
            for r in used
        )
        per_mtok = 1e6 * float(full.cost[:, j].sum()) / max(tokens, 1)
        entry = {"id": m, "provider": "replay", "input_per_mtok": per_mtok, "output_per_mtok": per_mtok}
        out.append({**entry, "context_window": 10_000_000})
    return out


def _candidates(body: dict[str, Any], models: list[str], spec: str | None) -> list[str]:
    """The route's candidates (default: the dataset's models); each must be one the data answers."""
    from satisfice.data.jsonl import model_id

    given = body.get("candidates")
    if not given:
        return models
    if not isinstance(given, list) or not all(isinstance(c, str) for c in given):
        raise EvalError(f"--route {spec}: candidates must be a list of model names")
    missing = [c for c in given if model_id(c) not in models]
    if missing:
        raise EvalError(
            f"--route {spec}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not among the "
            f"replayed models ({', '.join(models)}): the data has no answer to replay"
        )
    return [model_id(c) for c in given]


def _settings(
    dataset: str,
    spec: str | None,
    full: Replay,
    router: str,
    ledger: Path,
    extra_models: list[dict[str, Any]],
) -> Settings:
    """One replay provider over the dataset and the route under test, named `auto` by default (strategy
    auto over the dataset's models), else `live`: `spec` is a strategy name or a YAML/JSON route-body
    file (its candidates default to the dataset's models; its `router` is set by the protocol)."""
    body = _route_body(spec)
    body = {**body, "candidates": _candidates(body, full.models, spec)}
    if body.get("strategy", "first") in CHOOSING:  # the config's default strategy is first
        body["router"] = router
    doc = {
        "providers": [{"name": "replay", "type": "replay", "dataset": dataset}],
        "models": extra_models,
        "routes": {"auto" if spec is None else "live": body},
        "ledger": {"path": str(ledger)},
        # A fresh learning store per run: statistics learned by an earlier run must not steer this one.
        "learning": {"path": str(ledger.with_name(ledger.stem + "-learn.db"))},
        # Every replayed prompt must reach the router: an answer served from the cache measures nothing.
        "cache": {"when": "never"},
    }
    try:
        return parse_settings(doc, env={}, source="satisfice eval --live")
    except ConfigError as e:
        raise EvalError(f"the generated gateway config: {e}") from None


async def _serve(
    settings: Settings,
    jobs: list[tuple[str, Record]],
    conc: int,
    bar: Progress,
    teach: Teach | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Serve one gateway on loopback and send every (knob, record) request; per request what the
    response said (`request_id`, `status`, `content`, `model`) and the gateway's ledger row
    (`ledger`). With `teach`, its requests and their feedback come first, then one gate check
    (what it did is the second value)."""
    from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

    from satisfice.server.app import make_app
    from satisfice.wiring import build

    parts = build(settings)
    runner = web.AppRunner(make_app(parts, gate_loop=False), access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1/chat/completions"
    sem, route = asyncio.Semaphore(conc), settings.routes[0].name

    async def send(http: ClientSession, knob: str, r: Record) -> dict[str, Any]:
        body = {"model": route, "messages": list(r.messages), "metadata": {"replay_id": r.id}}
        async with sem, http.post(url, json=body, headers={"x-satisfice-knob": knob}) as resp:
            raw = await resp.read()
        bar.advance()
        choices = (orjson.loads(raw).get("choices") or [{}]) if resp.status == 200 else [{}]
        rid = resp.headers.get("x-satisfice-request-id", "")
        return {
            "request_id": rid,
            "status": resp.status,
            "content": choices[0].get("message", {}).get("content"),
            "model": resp.headers.get("x-satisfice-model", ""),
            "error": None if resp.status == 200 else error_message(raw),
        }

    def prepare() -> None:
        from satisfice.tokens import count_text

        parts.planner.warm()
        for model in settings.routes[0].candidates:  # each tokenizer loads once, before any timing
            count_text("warm up", model)

    try:
        await asyncio.get_running_loop().run_in_executor(None, prepare)
        conn = TCPConnector(limit=conc)
        async with ClientSession(connector=conn, timeout=ClientTimeout(total=600)) as http:
            # Warm-up (lazy tokenizer etc.), not scored. With --learn it is a teaching prompt: a scored
            # one would put its verdict into the statistics the gate then checks.
            warm = teach.jobs[0] if teach is not None and teach.jobs else jobs[0]
            await send(http, *warm)
            learned = None
            if teach is not None:
                taught = list(await asyncio.gather(*(send(http, k, r) for k, r in teach.jobs)))
                feedback_url = url.rsplit("/", 2)[0] + "/feedback"
                learned = await _learn(parts, http, feedback_url, sem, teach, taught)
            got = list(await asyncio.gather(*(send(http, k, r) for k, r in jobs)))
    finally:
        await runner.cleanup()  # flushes and closes the ledger
    db = sqlite3.connect(settings.ledger_path)
    db.row_factory = sqlite3.Row
    try:
        cols = "id, model, cost_usd, n_attempts, attempts, latency_ms"
        ledger = {r["id"]: dict(r) for r in db.execute(f"SELECT {cols} FROM requests")}
    finally:
        db.close()
    return [{**g, "ledger": ledger.get(g["request_id"]) or {}} for g in got], learned


def error_message(raw: bytes) -> str:
    """What the gateway said when it failed a request (OpenAI's error shape), so that a failed
    request's row in requests.jsonl, and the run's warning, say why it scored 0."""
    try:
        return str(orjson.loads(raw)["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return raw[:200].decode("utf-8", "replace") or "(no body)"


def failures(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failed requests grouped by status and message, most frequent first (at most 5)."""
    count = Counter((f["status"], f.get("error") or "") for f in facts if f["status"] != 200)
    return [{"status": s, "error": e, "requests": n} for (s, e), n in count.most_common(5)]


async def _learn(
    parts: Parts,
    http: ClientSession,
    url: str,
    sem: asyncio.Semaphore,
    teach: Teach,
    taught: list[dict[str, Any]],
) -> dict[str, Any]:
    """Each taught answer's feedback through the real endpoint, then one promotion gate check."""
    learner = parts.planner.learner
    if learner is None:
        raise EvalError("--learn: the generated gateway has no learner")

    async def feedback(g: dict[str, Any], record: Record) -> bool | None:
        score = teach.grade(record, g["model"]) if g["status"] == 200 else None
        if score is None:
            return None
        async with sem, http.post(url, json={"request_id": g["request_id"], "score": score}) as resp:
            await resp.read()
            return bool(resp.status == 200)

    sent = await asyncio.gather(*(feedback(g, r) for g, (_, r) in zip(taught, teach.jobs, strict=True)))
    gate = await asyncio.get_running_loop().run_in_executor(None, learner.run_gate)
    return {
        "taught_requests": len(taught),
        "feedback_sent": sum(v is not None for v in sent),
        "feedback_accepted": sum(v is True for v in sent),
        "gate": {
            "promoted": gate.promoted,
            "method": gate.method,
            "promoted_value": gate.old_value,
            "candidate_value": gate.new_value,
            "decisions_checked": gate.n,
            "decisions_routed_differently": gate.changed,
            "segments_promoted": gate.promoted_segments,
            "segments_blocked": gate.blocked_segments,
            "reason": gate.reason,
        },
    }


def _grader(full: Replay) -> Callable[[Record, str], float | None]:
    """The user's feedback in `--learn`: the recorded quality of the answering model's answer."""
    row = {r.id: j for j, r in enumerate(full.records)}
    col = {m: j for j, m in enumerate(full.models)}

    def grade(record: Record, model: str) -> float | None:
        if model not in col:
            return None
        return float(full.quality[row[record.id], col[model]])

    return grade


def escalated(attempts: list[dict[str, Any]], answered: str) -> bool:
    """A verified answer failed and the cascade moved on to another model. A failed verdict on the
    answer the client got is not one (the last rung has nowhere to go), nor is an agreement partner
    that was asked but not needed."""
    return any(a.get("verdict") == "fail" and a.get("model") != answered for a in attempts)


def _score(full: Replay, jobs: list[tuple[str, int]], got: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One fact row per request: the answering model (the ledger's word) and its recorded quality;
    the gateway's cost, attempts and latency; what the data says the answered attempts cost."""
    index = {m: j for j, m in enumerate(full.models)}
    out = []
    for (knob, j), g in zip(jobs, got, strict=True):
        row, ok, record = g["ledger"], g["status"] == 200, full.records[j]
        model = row.get("model") or ""
        if ok and model not in index:
            raise EvalError(f"the gateway answered with {model!r}, which the data does not score")
        attempts = orjson.loads(row.get("attempts") or "[]")
        answered = [a["model"] for a in attempts if a.get("outcome") == "ok" and a["model"] in index]
        called = sorted({a["model"] for a in attempts if a.get("outcome") not in NOT_SENT})
        outcome = record.outcomes.get(model)
        out.append(
            {
                "knob": knob,
                "id": record.id,
                "request_id": g["request_id"],
                "status": g["status"],
                "error": g.get("error"),
                "model": model,
                "quality": float(full.quality[j, index[model]]) if ok else 0.0,
                "cost_usd": float(row.get("cost_usd") or 0.0),
                "data_cost_usd": sum(float(full.cost[j, index[a]]) for a in answered) if ok else 0.0,
                "answer_matches": ok and outcome is not None and g["content"] == outcome.response,
                "n_attempts": row.get("n_attempts"),
                "answered_attempts": len(answered),
                "called": called,
                "escalated": escalated(attempts, model),
                "latency_ms": float(row.get("latency_ms") or 0.0),
            }
        )
    return out


def _point(knob: str, rows: list[dict[str, Any]], replay: Replay, strong_q: float) -> dict[str, Any]:
    ok = [r for r in rows if r["status"] == 200]
    n = len(rows)
    lat = np.array([r["latency_ms"] for r in rows], dtype=np.float64)
    shares = {m: sum(r["model"] == m for r in ok) / n for m in replay.models}
    quality = sum(r["quality"] for r in ok) / n
    return {
        "knob": knob,
        "quality": quality,
        "quality_vs_strong": quality / strong_q if strong_q else None,
        "cost_per_1k": 1000 * sum(r["cost_usd"] for r in rows) / n,
        "data_cost_per_1k": 1000 * sum(r["data_cost_usd"] for r in ok) / n,
        "strong_share": shares[replay.models[replay.strong()]],
        # A cascade or a race can call the strong model without using its answer (an agreement
        # partner, a cancelled racer): the share of requests that called it at all, which it bills.
        "strong_calls": sum(replay.models[replay.strong()] in r["called"] for r in rows) / n,
        "model_shares": shares,
        "escalation_rate": sum(bool(r["escalated"]) for r in rows) / n,
        "added_latency_ms": {
            "mean": float(lat.mean()),
            "p50": float(np.percentile(lat, 50)),
            "p90": float(np.percentile(lat, 90)),
        },
        "n_requests": n,
        "n_errors": n - len(ok),
        "reported": True,
    }


def evaluate_live(
    dataset: str,
    router: str = "learned",
    *,
    route: str | None = None,
    knobs: Sequence[str] = (),
    concurrency: int = 8,
    limit: int | None = None,
    folds: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    requests: list[dict[str, Any]] | None = None,
    learn: bool = False,
    models: Sequence[str] = (),
) -> dict[str, Any]:
    """Run `dataset` through the real gateway (see the module doc); the same JSON shape as `evaluate`
    plus `escalation_rate` and `added_latency_ms` per point. Per-request facts go to `requests`.

    `learn`: each fold's prompts are halved; the gateway first answers the teaching half (each prompt
    once, the knobs in turn) with the user's feedback on each answer (its recorded quality) and runs
    the promotion gate once, then answers the scored half (`points`). A control gateway with an
    empty learning store answers the same scored half (`learning.control_points`)."""
    from satisfice.data.jsonl import DataFormatError
    from satisfice.errors import GatewayError
    from satisfice.providers.replay import ReplayUpstream
    from satisfice.routing.knob import parse_knob

    bar = progress or Progress(enabled=False)
    if concurrency < 1:
        raise EvalError(f"--concurrency must be at least 1, got {concurrency}")
    _route_body(route)  # a bad --route fails now, not after the first fold's fit
    try:
        ds = ReplayUpstream.load(dataset).dataset
        knob_list = list(dict.fromkeys(str(parse_knob(k)) for k in knobs))  # one point per setting
    except (FileNotFoundError, KeyError, DataFormatError) as e:
        raise EvalError(str(e)) from None
    except GatewayError as e:
        raise EvalError(f"--knobs: {e.message}") from None
    require_records(ds)
    if ds.pairwise:
        raise EvalError(f"{ds.name}: pairwise votes have no per-model answers to replay live")
    if limit is not None and limit < 1:
        raise EvalError(f"--limit must be at least 1, got {limit}")
    choice = choose_models(ds, models)
    full = build_replay(ds, choice.models)
    extra_models = _unknown_models(full)
    with tempfile.TemporaryDirectory(prefix="satisfice-live-") as tmp:
        work = Path(tmp)
        plan, protocol, seen, used_folds = _folds(
            full, router, folds, seed, limit, work, _shared_name(dataset)
        )
        if learn:
            plan = _split_for_learning(plan, full.records, seed)
            protocol += "; --learn: half of each fold's prompts teach, the other half is scored"
        scored = np.sort(np.concatenate([f.rows for f in plan])) if plan else np.zeros(0, np.int64)
        if scored.size == 0:
            raise EvalError(f"{ds.name}: the protocol left no prompt to score")
        served = np.sort(
            np.concatenate([f.rows if f.teach is None else np.concatenate([f.rows, f.teach]) for f in plan])
        )
        _require_answers(ds.name, full, served)
        knob_list = knob_list or default_knobs(full)
        facts: list[dict[str, Any]] = []
        control: list[dict[str, Any]] = []
        lessons: list[dict[str, Any]] = []
        for i, fold in enumerate(plan):
            label = f"fold {i + 1}/{len(plan)}" if len(plan) > 1 else "gateway"
            if fold.train is not None:
                bar.stage(f"{label}: fit", 1)
                _fit(fold, seed)
                bar.advance()
            settings = _settings(dataset, route, full, fold.router, work / f"ledger-{i}.db", extra_models)
            jobs = [(k, int(j)) for k in knob_list for j in fold.rows]
            scored_jobs = [(k, full.records[j]) for k, j in jobs]
            teach = None
            if fold.teach is not None:
                # Each teaching prompt once, the knobs taken in turn: as in real traffic, no prompt's
                # outcome is counted several times.
                taught = [
                    (knob_list[n % len(knob_list)], full.records[int(j)]) for n, j in enumerate(fold.teach)
                ]
                teach = Teach(taught, _grader(full))
            bar.stage(f"{label}: replay", len(jobs) + (len(teach.jobs) if teach else 0))
            got, lesson = asyncio.run(_serve(settings, scored_jobs, concurrency, bar, teach))
            facts += _score(full, jobs, got)
            if lesson is not None:
                lessons.append({"fold": i + 1, **lesson})
                bar.stage(f"{label}: control (no learning)", len(jobs))
                plain = _settings(dataset, route, full, fold.router, work / f"control-{i}.db", extra_models)
                control += _score(full, jobs, asyncio.run(_serve(plain, scored_jobs, concurrency, bar))[0])
    bar.close()
    replay = full.subset(scored)
    baselines = _baselines(replay)
    strong_model = replay.models[replay.strong()]
    strong_q = baselines["models"][strong_model]["quality"]
    points = [_point(k, [f for f in facts if f["knob"] == k], replay, strong_q) for k in knob_list]
    two = len(replay.models) == 2
    if requests is not None:
        requests.extend(facts)
    learning = None
    if learn:
        learning = {
            "protocol": "per fold: the teaching half answered once per prompt (knobs in turn), feedback "
            "= the recorded quality of each answer, one promotion gate check; then the scored half. "
            "Control: a gateway with an empty learning store on the same scored half.",
            "folds": lessons,
            "control_points": [
                _point(k, [f for f in control if f["knob"] == k], replay, strong_q) for k in knob_list
            ],
        }
    predictor = {"learned": "learned (fitted in-process, served as .npz)", "learned-artifact": "learned"}
    result: dict[str, Any] = {
        "kind": "two-model" if two else "n-model",
        "live": True,
        "router": router,
        "predictor": predictor.get(router, router),
        "dataset": ds.name,
        "description": ds.description,
        "protocol": protocol + _limited(limit, scored.size, learn),
        "may_have_seen_data": router == "learned-artifact",
        "trained_on_data": seen,
        "gateway": {
            "route": route or "auto (strategy auto over the dataset's models)",
            "routers": [Path(f.router).name for f in plan],
            "concurrency": concurrency,
            "knobs": knob_list,
        },
        "n_prompts": replay.n,
        "n_requests": len(facts),
        "n_errors": sum(f["status"] != 200 for f in facts),
        "errors": failures(facts),
        "n_answer_mismatch": sum(f["status"] == 200 and not f["answer_matches"] for f in facts),
        "n_dropped_incomplete": full.dropped,
        "models": replay.models,
        "models_chosen_by": choice.how,
        "notes": list(choice.notes),
        "strong_model": strong_model,
        "cost_source": "the gateway's ledger cost_usd (the replayed call's recorded cost, else catalog "
        "price x counted tokens); baselines: " + replay.cost_source,
        "latency_note": LATENCY_NOTE.format(c=concurrency),
        "seed": seed,
        "folds": used_folds,  # as used (5 by default, fewer for tiny data); None without CV
        "points": points,
        "baselines": baselines,
    }
    if learning is not None:
        result["learning"] = learning
    good = [p for p in points if p["quality"] >= 0.95 * strong_q - 1e-12]
    best = min(good, key=lambda p: p["cost_per_1k"]) if good else None
    keys = ("knob", "quality", "cost_per_1k", "strong_share")
    result["cheapest_at_95"] = None if best is None else {k: best[k] for k in keys}
    if two:
        weak_q = baselines["models"][replay.models[1 - replay.strong()]]["quality"]
        for p in points:
            p["pgr"] = pgr(p["quality"], weak_q, strong_q)
        # RouteLLM's cost axis is the calls sent to the strong model: through the gateway a race or
        # an agreement check calls it without using its answer, and pays for it.
        calls = [{**p, "strong_share": p["strong_calls"]} for p in points]
        result.update(_two_model(replay, calls, baselines))
        result["cost_metric"] = (
            "strong_calls (the share of requests that called the strong model, its answer used or not)"
        )
        result["share_axis"] = "strong_calls"
        if "warning" in result:
            result["notes"].append(result["warning"])
        if knobs:  # as offline: a curve through a few chosen points is not the router's curve
            result.update(dict.fromkeys(("apgr", "cpt50", "cpt80", "share_for_95")))
            result["notes"].append(
                "--knobs: APGR, CPT and the share for 95 % need the whole sweep; they are null here "
                "(each point still carries its quality, cost and strong share)"
            )
        result["share_calibration"] = "by the gateway, on its predictor's reference prompts (not the scored)"
    return result


def _limited(limit: int | None, scored: int, learn: bool) -> str:
    if limit is None:
        return ""
    if learn:
        return f"; the first {limit} prompts (--limit), of which {scored} scored"
    return f"; first {scored} scored prompts (--limit)"


def _require_answers(name: str, full: Replay, rows: IntArray) -> None:
    """Every served (prompt, model) pair has a recorded answer to replay; else say where one lacks."""
    lacking = [
        (i, m) for i in rows.tolist() for m in full.models if full.records[i].outcomes[m].response is None
    ]
    if not lacking:
        return
    i, m = lacking[0]
    by_model = sorted({x for _, x in lacking})
    raise EvalError(
        f"{name}: {len(lacking)} (prompt, model) pairs have no recorded answer to replay (the first: id "
        f"{full.records[i].id!r}, {m}); leave such models out with --models (lacking: {', '.join(by_model)})"
    )


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds like ^C: the temporary folder (ledgers, artifacts) goes


def cmd_live(args: argparse.Namespace) -> int:
    import signal

    from satisfice.evals.cli import run_and_write

    if args.train_on:
        print("satisfice eval: --train-on is not supported with --live", file=sys.stderr)
        return 2
    before = signal.signal(signal.SIGTERM, _terminated)
    try:
        return run_and_write(args, "satisfice eval --live", _run_live, "-live")
    finally:
        signal.signal(signal.SIGTERM, before)


def _run_live(args: argparse.Namespace, progress: Progress) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The live evaluation, and its per-request facts as the extra file requests.jsonl."""
    requests: list[dict[str, Any]] = []
    from satisfice.evals.cli import split_list
    from satisfice.evals.select import parse_models

    result = evaluate_live(
        args.dataset,
        args.router,
        route=args.route,
        knobs=split_list(args.knobs),
        concurrency=8 if args.concurrency is None else args.concurrency,
        models=parse_models(args.models),
        limit=args.limit,
        folds=args.folds,
        seed=args.seed,
        progress=progress,
        requests=requests,
        learn=args.learn,
    )
    return result, {"requests.jsonl": b"".join(orjson.dumps(r) + b"\n" for r in requests)}
