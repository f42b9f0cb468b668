"""Totals from the ledger: requests, cost, baseline cost, savings, blended price, model mix."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


class LedgerError(Exception):
    """A file that is not a readable Satisfice ledger."""


def summarize(path: str, since: float | None = None) -> dict[str, Any]:
    if not Path(path).exists():
        raise FileNotFoundError(f"no ledger at {path} (serve some requests first, or pass --ledger)")
    if Path(path).is_dir():
        raise LedgerError(f"{path}: is a directory, not a ledger file")
    try:
        return _summarize(path, since)
    except sqlite3.DatabaseError as e:
        why = str(e)
        if "no such table" in why or "no such column" in why:
            why = f"{why}; an empty file or another program's database?"
        raise LedgerError(f"{path}: not a Satisfice ledger ({why})") from None


def _summarize(path: str, since: float | None) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        where, args = ("WHERE ts >= ?", (since,)) if since is not None else ("", ())
        row = conn.execute(
            f"""SELECT COUNT(*), COALESCE(SUM(outcome = 'ok'), 0), COALESCE(SUM(cost_usd), 0),
                       COALESCE(SUM(baseline_cost_usd), 0), COALESCE(SUM(prompt_tokens), 0),
                       COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cached_tokens), 0),
                       MIN(ts), MAX(ts)
                FROM requests {where}""",
            args,
        ).fetchone()
        calls = conn.execute(
            f"SELECT model, provider, cost_usd, prompt_tokens + completion_tokens, attempts "
            f"FROM requests {where}",
            args,
        )
        mix, billed_tokens = _paid_by_model(calls)
        outcomes = conn.execute(
            f"SELECT outcome, COUNT(*) FROM requests {where} GROUP BY outcome ORDER BY COUNT(*) DESC", args
        ).fetchall()
        # A 429 refused by the gateway's own limits tried no provider; one with attempts means every
        # candidate provider was rate limited.
        limited = conn.execute(
            f"""SELECT COALESCE(SUM(status = 429 AND n_attempts = 0), 0),
                       COALESCE(SUM(status = 429 AND n_attempts > 0), 0)
                FROM requests {where}""",
            args,
        ).fetchone()
        levers = _levers(conn, where, args)
        # Requests an auto route answered with a neighbour of its pick (`explore:`), and their cost.
        explored = conn.execute(
            f"""SELECT COUNT(*), COALESCE(SUM(cost_usd), 0) FROM requests {where}
                {"AND" if where else "WHERE"} strategy = 'auto' AND reason LIKE '% exploring: %'""",
            args,
        ).fetchone()
    finally:
        conn.close()
    requests, ok, cost, baseline, p_tok, c_tok, cached, first, last = row
    answered = sum(m.answered for m in mix.values())
    return {
        "ledger": path,
        "requests": requests,
        "ok": ok,
        "outcomes": {o: n for o, n in outcomes},
        "rate_limited": {"gateway": limited[0], "providers": limited[1]},
        "explored": {"requests": explored[0], "cost_usd": explored[1]},
        "cost_usd": cost,
        "baseline_cost_usd": baseline,
        "savings_usd": baseline - cost,
        "savings_pct": (100.0 * (baseline - cost) / baseline) if baseline > 0 else 0.0,
        "prompt_tokens": p_tok,
        "completion_tokens": c_tok,
        "cached_tokens": cached,
        # Over every token billed: escalated-from answers, judges and cancelled racers included.
        "billed_tokens": billed_tokens,
        "blended_usd_per_mtok": (cost / billed_tokens * 1e6) if billed_tokens else 0.0,
        "first_ts": first,
        "last_ts": last,
        **levers,
        "models": [
            {
                "model": model,
                "provider": provider,
                "requests": m.answered,  # requests it answered
                "share_pct": 100.0 * m.answered / answered if answered else 0.0,
                "calls": m.calls,  # calls billed, answering or not
                "cost_usd": m.cost_usd,  # what those calls cost
                "tokens": m.tokens,
            }
            for (model, provider), m in sorted(mix.items(), key=lambda kv: (-kv[1].answered, -kv[1].calls))
        ],
    }


@dataclass(slots=True)
class _Paid:
    answered: int = 0
    calls: int = 0
    cost_usd: float = 0.0
    tokens: int = 0


def _paid_by_model(rows: Iterable[tuple[Any, ...]]) -> tuple[dict[tuple[str, str], _Paid], int]:
    """Per (model, provider): the requests it answered, and the calls it was paid for with their cost
    and tokens, from each row's attempts (a cascade's escalated-from answer, a judge, a race's
    cancelled loser are other models' calls, paid within the row); and every token billed. A row
    whose attempts carry no cost (written before they did) counts whole for its answering model."""
    mix: dict[tuple[str, str], _Paid] = {}
    billed = 0

    def paid(model: str, provider: str, cost: float, tokens: int) -> None:
        nonlocal billed
        m = mix.setdefault((model, provider), _Paid())
        m.calls, m.cost_usd, m.tokens = m.calls + 1, m.cost_usd + cost, m.tokens + tokens
        billed += tokens

    for model, provider, cost, tokens, attempts in rows:
        if model:
            mix.setdefault((model, provider), _Paid()).answered += 1
        calls = [(a, _number(a.get("cost_usd")), int(_number(a.get("tokens")))) for a in _attempts(attempts)]
        calls = [c for c in calls if c[1] > 0 or c[2] > 0]  # a call billed (a withdrawn racer was not)
        for a, usd, used in calls:
            paid(str(a.get("model", "")), str(a.get("provider", "")), usd, used)
        if not calls and model and cost:  # (a cache hit: no call, cost 0)
            paid(model, provider, float(cost or 0.0), int(tokens or 0))
    return mix, billed


def _number(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def _attempts(raw: Any) -> list[dict[str, Any]]:
    try:
        parsed = orjson.loads(raw or "[]")
    except orjson.JSONDecodeError:
        return []
    return [a for a in parsed if isinstance(a, dict)] if isinstance(parsed, list) else []


def _levers(conn: sqlite3.Connection, where: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """What the cache and prompt trimming saved (zero for a ledger written before they existed)."""
    have = {r[1] for r in conn.execute("PRAGMA table_info(requests)")}
    if not {"cache", "trim_tokens_before"} <= have:
        return {
            "cache_hits": {},
            "cache_saved_usd": 0.0,
            "trimmed": 0,
            "trim_tokens_saved": 0,
            "trim_saved_usd": 0.0,
        }
    hits = conn.execute(
        f"""SELECT cache, COUNT(*), COALESCE(SUM(cache_saved_usd), 0) FROM requests {where}
            {"AND" if where else "WHERE"} cache LIKE 'hit-%' GROUP BY cache""",
        args,
    ).fetchall()
    trimmed, saved_tokens, saved_usd = conn.execute(
        f"""SELECT COUNT(*), COALESCE(SUM(trim_tokens_before - trim_tokens_after), 0),
                   COALESCE(SUM(trim_saved_usd), 0)
            FROM requests {where} {"AND" if where else "WHERE"} trim_tokens_before > trim_tokens_after""",
        args,
    ).fetchone()
    return {
        "cache_hits": {kind: n for kind, n, _ in hits},
        "cache_saved_usd": sum(usd for _, _, usd in hits),
        "trimmed": trimmed,
        "trim_tokens_saved": saved_tokens,
        "trim_saved_usd": saved_usd,
    }


def render_table(s: dict[str, Any]) -> str:
    lines = [
        f"ledger            {s['ledger']}",
        f"requests          {s['requests']} ({s['ok']} ok; "
        + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items())
        + ")",
        f"cost              ${s['cost_usd']:.6f}",
        f"baseline cost     ${s['baseline_cost_usd']:.6f}",
        f"savings           ${s['savings_usd']:.6f} ({s['savings_pct']:.1f} %)",
        f"tokens            {s['prompt_tokens']} prompt + {s['completion_tokens']} completion "
        f"({s['cached_tokens']} cached)",
        f"blended price     ${s['blended_usd_per_mtok']:.4f} per million tokens billed "
        f"({s['billed_tokens']} tokens, every call included)",
        f"rate limited      {s['rate_limited']['gateway']} by the gateway's limits, "
        f"{s['rate_limited']['providers']} with every provider rate limited",
        f"explored          {s['explored']['requests']} requests answered by a neighbour of the pick "
        f"(${s['explored']['cost_usd']:.6f})",
        f"cache hits        {sum(s['cache_hits'].values())} ("
        + (", ".join(f"{k} {v}" for k, v in sorted(s["cache_hits"].items())) or "none")
        + f"), saving ${s['cache_saved_usd']:.6f}",
        f"trimming          {s['trimmed']} requests trimmed, {s['trim_tokens_saved']} prompt tokens "
        f"and ${s['trim_saved_usd']:.6f} saved",
        "",
        f"{'model':<34} {'provider':<14} {'answered':>9} {'share':>7} {'calls':>7} {'cost of calls $':>16}",
    ]
    for m in s["models"]:
        lines.append(
            f"{m['model'][:34]:<34} {m['provider'][:14]:<14} {m['requests']:>9} {m['share_pct']:>6.1f}% "
            f"{m['calls']:>7} {m['cost_usd']:>16.6f}"
        )
    if not s["models"]:
        lines.append("(no answered requests yet)")
    return "\n".join(lines)
