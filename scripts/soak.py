"""Long-run memory soak: worker RSS of `satisfice serve --workers N` under a steady mixed load.

    .venv/bin/python scripts/soak.py [--minutes 80] [--rate 30] [--workers 2] [--port 19500]
                                     [--out DIR] [--window 20] [--sample-s 30]

What it starts (all on 127.0.0.1, all stopped on exit, ^C or SIGTERM):
- the shared bench mock upstream (`$SATISFICE_SHARED/bench/mock_upstream.py`, default
  ../shared/bench next to the repo), serving four models, 16 tokens per answer;
- `satisfice serve --workers N` with a temporary config: one OpenAI-compatible provider (the mock)
  with four priced models, an `auto` route (strategy auto, learned router, 5 % exploration) over
  them, the SQLite cache with exact and semantic lookups (`when: always`), the ledger, and learning
  with the promotion gate every `--gate-interval-s` (5 s by default, so it runs all the time).

The load is open-loop: one action is launched every 1/`--rate` s (at most `--max-inflight` at
once; an action that finds them all busy is counted as `late` and dropped). The mix per action:
~55 % a non-streaming chat request with a unique prompt, ~20 % a streaming one (unique), ~10 % a
repeat from a pool of 300 prompts (exact-cache hits), ~5 % a paraphrase of a pooled prompt
(semantic lookups), ~7 % `POST /v1/feedback` on a request id answered by the `auto` route at least
2 s before, ~3 % `POST /v1/messages` (Anthropic dialect). Most chat requests go to `auto`, some to a
model directly. Errors are transport failures and unexpected statuses (5xx, or a 4xx other than a
feedback 404/409, which are counted apart: a decision may not be written yet or may be an explored
or cached answer).

What it measures: every `--sample-s` s it finds the worker processes (children of the serve
process, from /proc/*/stat) and reads each one's VmRSS from /proc/PID/status, plus its open fds
(/proc/PID/fd) and threads. One row a minute is printed (minute, RSS per worker, fds/threads,
actions done, errors); every sample goes to `samples.csv` in `--out`. At the end it prints the
least-squares RSS slope (MB/min) per worker over consecutive windows of `--window` minutes, and
says whether RSS plateaued: every worker's slope in the last full window under `--plateau`
(0.1 MB/min). The serve process's own output is in `serve.log` in `--out`. Each sample also counts
the rows of the shared SQLite cache: every worker's semantic index holds one vector per row (up to
`cache.max_entries`, `--cache-max-entries`), so RSS cannot be flat while that count still rises.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(
    os.environ.get("SATISFICE_SHARED")
    or next((p for p in (ROOT.parent / "shared", Path("/work/shared")) if p.is_dir()), ROOT.parent / "shared")
)
MOCK = SHARED / "bench" / "mock_upstream.py"
MODELS = [  # id, $/Mtok in, $/Mtok out, quality prior
    ("soak-nano", 0.05, 0.2, 0.45),
    ("soak-mini", 0.15, 0.6, 0.6),
    ("soak-mid", 1.0, 4.0, 0.75),
    ("soak-large", 5.0, 15.0, 0.9),
]
WORDS = [
    *("apple", "river", "quantum", "ledger", "falcon", "orbit", "copper", "prairie", "lantern"),
    *("harbor", "syntax", "meadow", "vector", "glacier", "tensor", "violet", "summit", "canyon"),
    *("pixel", "ember", "thunder", "marble", "compass", "velvet", "archive", "nebula", "sparrow"),
    *("circuit", "willow", "basalt", "quartz", "lagoon", "cipher", "timber", "saffron", "beacon"),
]
TEMPLATES = [
    "Explain how {a} relates to {b} in {n} short sentences.",
    "Write a haiku about {a} and {b}.",
    "What is the difference between {a} and {b}? Case {n}.",
    "Summarize the history of the {a} {b} project, part {n}.",
    "Give me {n} tips for caring for a {a} near the {b}.",
    "Translate the phrase '{a} {b}' into French and explain it (note {n}).",
    "Write a Python function named {a}_{b} that returns {n}.",
]


def free_port(lo: int, hi: int, avoid: set[int]) -> int:
    for p in range(lo, hi + 1):
        if p in avoid:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
            return p
    raise SystemExit(f"no free port in {lo}-{hi}")


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return True
        time.sleep(0.1)
    return False


def proc_status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def children(pid: int, workers: int = 2) -> list[int]:
    """The worker processes of serve `pid`: its children, less multiprocessing's resource tracker
    (with one worker, `serve` serves in its own process)."""
    if workers == 1:
        return [pid]
    kids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) != pid:
            continue
        try:
            if b"resource_tracker" in (d / "cmdline").read_bytes():
                continue
        except OSError:
            continue
        kids.append(int(d.name))
    return sorted(kids)


def sample_proc(pid: int) -> tuple[float, int, int]:
    """(RSS MB, open fds, threads) of one process."""
    st = proc_status(pid)
    rss = int(st["VmRSS"].split()[0]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd")), int(st["Threads"])


def cache_entries(path: Path) -> int:
    """Rows in the shared SQLite cache (read-only; each worker's semantic index holds as many)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            return int(db.execute("SELECT count(*) FROM cache_entries").fetchone()[0])
    except sqlite3.Error:
        return -1


def config(mock_port: int, tmp: Path, gate_s: float, max_entries: int) -> dict[str, Any]:
    return {
        "ledger": {"path": str(tmp / "ledger.db")},
        "providers": [
            {
                "name": "mock",
                "type": "openai",
                "base_url": f"http://127.0.0.1:{mock_port}/v1",
                "models": [m[0] for m in MODELS],
            }
        ],
        "models": [
            {
                "id": m,
                "provider": "mock",
                "input_per_mtok": i,
                "output_per_mtok": o,
                "context_window": 128000,
                "quality_prior": q,
            }
            for m, i, o, q in MODELS
        ],
        "routes": {
            "auto": {
                "strategy": "auto",
                "candidates": [m[0] for m in MODELS],
                "knob": "quality=0.7",
                "explore": 0.05,
            }
        },
        "cache": {
            "backend": "sqlite",
            "path": str(tmp / "cache.db"),
            "max_entries": max_entries,
            "when": "always",
            "semantic": True,
            "ttl_s": 86400,
        },
        "learning": {"path": str(tmp / "learn.db"), "enabled": True, "gate_interval_s": gate_s},
    }


@dataclass
class Load:
    url: str
    counts: Counter[str] = field(default_factory=Counter)
    done: int = 0
    errors: int = 0
    late: int = 0
    inflight: int = 0
    auto_ids: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=2000))
    pool: list[str] = field(default_factory=list)
    seq: int = 0
    last_errors: deque[str] = field(default_factory=lambda: deque(maxlen=5))

    def prompt(self, rng: random.Random) -> str:
        self.seq += 1
        a, b = rng.sample(WORDS, 2)
        return rng.choice(TEMPLATES).format(a=a, b=b, n=self.seq)

    def error(self, what: str) -> None:
        self.errors += 1
        self.counts["error"] += 1
        self.last_errors.append(what)

    async def chat(self, s: aiohttp.ClientSession, model: str, text: str, stream: bool) -> None:
        body = {
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": 32,
            "temperature": 0,
            "stream": stream,
        }
        async with s.post(f"{self.url}/v1/chat/completions", json=body) as r:
            data = await r.read()
            if r.status != 200:
                self.error(f"chat {r.status} {data[:200]!r}")
                return
            if stream and b"[DONE]" not in data:
                self.error(f"stream without [DONE]: {data[-200:]!r}")
                return
            cache = r.headers.get("x-satisfice-cache", "?")
            self.counts[f"{'stream' if stream else 'json'}-{cache}"] += 1
            rid = r.headers.get("x-satisfice-request-id")
            if model == "auto" and rid and cache == "miss":
                self.auto_ids.append((time.monotonic(), rid))

    async def feedback(self, s: aiohttp.ClientSession, rng: random.Random) -> None:
        now = time.monotonic()
        ready = [rid for t, rid in self.auto_ids if now - t > 2.0]
        if not ready:
            self.counts["feedback-none"] += 1
            return
        rid = rng.choice(ready[-500:])
        body = {"request_id": rid, "score": round(rng.random(), 2)}
        async with s.post(f"{self.url}/v1/feedback", json=body) as r:
            await r.read()
            if r.status in (200, 201, 202, 204):
                self.counts["feedback-ok"] += 1
            elif r.status in (404, 409):
                self.counts[f"feedback-{r.status}"] += 1
            else:
                self.error(f"feedback {r.status}")

    async def messages(self, s: aiohttp.ClientSession, text: str) -> None:
        body = {"model": "auto", "max_tokens": 32, "messages": [{"role": "user", "content": text}]}
        headers = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
        async with s.post(f"{self.url}/v1/messages", json=body, headers=headers) as r:
            data = await r.read()
            if r.status != 200:
                self.error(f"messages {r.status} {data[:200]!r}")
                return
            self.counts["messages"] += 1

    async def action(self, s: aiohttp.ClientSession, rng: random.Random) -> None:
        self.inflight += 1
        try:
            x = rng.random()
            model = "auto" if rng.random() < 0.85 else rng.choice(MODELS)[0]
            if x < 0.55:
                await self.chat(s, model, self.prompt(rng), False)
            elif x < 0.75:
                await self.chat(s, model, self.prompt(rng), True)
            elif x < 0.85:
                if len(self.pool) < 300:
                    self.pool.append(self.prompt(rng))
                await self.chat(s, "auto", rng.choice(self.pool), rng.random() < 0.2)
            elif x < 0.90:
                base = rng.choice(self.pool) if self.pool else self.prompt(rng)
                lead = rng.choice(["Please, ", "Quick question: ", ""])
                await self.chat(s, "auto", lead + base + "?", False)
            elif x < 0.97:
                await self.feedback(s, rng)
            else:
                await self.messages(s, self.prompt(rng))
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            self.error(f"{type(e).__name__}: {e}")
        finally:
            self.inflight -= 1
            self.done += 1


def slope(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return None
    return sum((p[0] - mx) * (p[1] - my) for p in points) / sxx


async def run(
    a: argparse.Namespace, serve_pid: int, url: str, out: Path, state: Path, stop: asyncio.Event
) -> int:
    rng = random.Random(a.seed)
    load = Load(url)
    timeout = aiohttp.ClientTimeout(total=60)
    # A new connection per request: SO_REUSEPORT spreads connections, not requests, over the
    # workers, and a few kept-alive connections could all land on one of them.
    conn = aiohttp.TCPConnector(limit=a.max_inflight, force_close=True)
    samples: list[tuple[float, dict[int, tuple[float, int, int]]]] = []  # (minute, pid -> sample)
    workers: list[int] = []
    t0 = time.monotonic()
    end = t0 + a.minutes * 60
    tasks: set[asyncio.Task[None]] = set()
    fcsv = (out / "samples.csv").open("w", newline="")
    wr = csv.writer(fcsv)
    wr.writerow(["t_min", "pid", "rss_mb", "fds", "threads", "done", "errors", "late", "cache_entries"])

    async def sampler() -> None:
        nonlocal workers
        next_t = t0
        last_print = -1
        while not stop.is_set():
            now = time.monotonic()
            tm = (now - t0) / 60
            kids = children(serve_pid, a.workers)
            if kids != workers and workers:
                print(f"# worker pids changed: {workers} -> {kids}", flush=True)
            workers = kids
            row: dict[int, tuple[float, int, int]] = {}
            entries = cache_entries(state / "cache.db")
            for pid in kids:
                try:
                    rss, fds, thr = sample_proc(pid)
                except (OSError, KeyError):
                    continue
                row[pid] = (rss, fds, thr)
                wr.writerow(
                    [f"{tm:.2f}", pid, f"{rss:.1f}", fds, thr, load.done, load.errors, load.late, entries]
                )
            fcsv.flush()
            samples.append((tm, row))
            if int(tm) != last_print and (int(tm) % a.print_every == 0 or not samples[:-1]):
                last_print = int(tm)
                cells = "  ".join(
                    f"{row[p][0]:7.1f} MB {row[p][1]:3d}fd {row[p][2]:2d}th" for p in kids if p in row
                )
                rate = load.done / max(now - t0, 1e-9)
                print(
                    f"{tm:6.1f}  {cells}  done {load.done:7d} ({rate:4.1f}/s)  errors {load.errors}"
                    f"  late {load.late}  inflight {load.inflight}  cache entries {entries}",
                    flush=True,
                )
            next_t += a.sample_s
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_t - time.monotonic()))

    print(f"# serve pid {serve_pid}, workers {children(serve_pid, a.workers)}; {a.minutes} min at {a.rate}/s")
    print("# minute  per worker: RSS, open fds, threads   actions done   errors", flush=True)
    async with aiohttp.ClientSession(
        connector=conn, timeout=timeout, headers={"authorization": "Bearer k"}
    ) as s:
        samp = asyncio.create_task(sampler())
        interval = 1.0 / a.rate
        next_t = time.monotonic()
        while not stop.is_set() and time.monotonic() < end:
            if load.inflight >= a.max_inflight:
                load.late += 1
            else:
                t = asyncio.create_task(load.action(s, rng))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
            next_t += interval
            delay = next_t - time.monotonic()
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            elif delay < -1.0:
                next_t = time.monotonic()  # fell behind by more than a second: do not burst
        if tasks:
            await asyncio.wait(tasks, timeout=30)
        stop.set()
        await samp
    fcsv.close()

    print("\n# outcomes:", json.dumps(dict(sorted(load.counts.items()))), flush=True)
    if load.last_errors:
        print("# last errors:", *load.last_errors, sep="\n#   ")
    pids = sorted({p for _, row in samples for p in row})
    total_min = samples[-1][0] if samples else 0.0
    verdicts: list[bool] = []
    print(f"\n# RSS slope, MB/min (least squares over the {a.sample_s:.0f} s samples)")
    w = a.window
    lo = 0.0
    last: dict[int, float | None] = {}
    while lo + w / 2 <= total_min:
        hi = lo + w
        cells = []
        for p in pids:
            pts = [(t, r[p][0]) for t, r in samples if p in r and lo <= t <= hi]
            sl = slope(pts)
            last[p] = sl if hi <= total_min + 0.5 else last.get(p)
            cells.append(f"{p}: {sl:+.3f}" if sl is not None else f"{p}: n/a")
        part = "" if hi <= total_min + 0.5 else " (partial)"
        print(f"  {lo:5.0f}-{hi:<5.0f}{part:10s} " + "   ".join(cells))
        lo = hi
    for p in pids:
        sl = last.get(p)
        verdicts.append(sl is not None and sl < a.plateau)
    plateau = bool(verdicts) and all(verdicts)
    print(
        f"\n# plateau (every worker's slope < {a.plateau} MB/min in the last full window): "
        f"{'yes' if plateau else 'no'}; errors {load.errors}, late {load.late}, actions {load.done}"
    )
    return 0 if load.errors == 0 else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--minutes", type=float, default=80)
    ap.add_argument("--rate", type=float, default=30.0, help="actions a second")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=19500, help="first port tried (gateway, then mock)")
    ap.add_argument("--port-max", type=int, default=19699)
    ap.add_argument("--gate-interval-s", type=float, default=5.0)
    ap.add_argument("--sample-s", type=float, default=30.0)
    ap.add_argument("--print-every", type=int, default=1, help="print a row every N minutes")
    ap.add_argument("--window", type=float, default=20.0, help="slope window, minutes")
    ap.add_argument("--plateau", type=float, default=0.1, help="MB/min under which RSS counts as flat")
    ap.add_argument("--max-inflight", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--cache-max-entries",
        type=int,
        default=100_000,
        help="cache.max_entries (also what each worker's semantic index may hold); the default is "
        "the gateway's, reached after ~80 min at 30 actions/s",
    )
    ap.add_argument("--keep-state", action="store_true", help="keep the config and SQLite files")
    ap.add_argument("--out", type=Path, default=None, help="directory for serve.log, samples.csv")
    a = ap.parse_args()
    out: Path = a.out or Path(tempfile.mkdtemp(prefix="soak-"))
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="soak-state-"))
    gport = free_port(a.port, a.port_max, set())
    mport = free_port(a.port, a.port_max, {gport})
    cfg = tmp / "config.json"
    cfg.write_text(json.dumps(config(mport, tmp, a.gate_interval_s, a.cache_max_entries), indent=2))
    print(f"# out {out}, state {tmp}, gateway :{gport}, mock :{mport}", flush=True)

    procs: list[subprocess.Popen[bytes]] = []
    mock_log = (out / "mock.log").open("wb")
    serve_log = (out / "serve.log").open("wb")

    def shutdown() -> None:
        for p in reversed(procs):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)  # its own session: only what it started
                p.wait()

    try:
        models = ",".join(m[0] for m in MODELS)
        procs.append(
            subprocess.Popen(
                [sys.executable, str(MOCK), "--port", str(mport), "--models", models, "--tokens", "16"],
                stdout=mock_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        if not wait_port(mport, procs[-1], 20):
            print(f"mock upstream did not come up; see {out / 'mock.log'}", file=sys.stderr)
            return 2
        env = {**os.environ, "SATISFICE_LOG_LEVEL": os.environ.get("SATISFICE_LOG_LEVEL", "WARNING")}
        exe = Path(sys.executable).parent / "satisfice"
        cmd = [str(exe), "serve", "--config", str(cfg), "--port", str(gport), "--workers", str(a.workers)]
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=serve_log, stderr=subprocess.STDOUT, start_new_session=True)
        )
        serve = procs[-1]
        url = f"http://127.0.0.1:{gport}"
        deadline = time.monotonic() + 90
        while True:
            if serve.poll() is not None:
                print(f"serve exited with {serve.returncode}; see {out / 'serve.log'}", file=sys.stderr)
                return 2
            kids = children(serve.pid, a.workers)
            ok = 0
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", gport), 0.5):
                ok = 1
            if ok and len(kids) >= a.workers:
                break
            if time.monotonic() > deadline:
                print("gateway did not come up in 90 s", file=sys.stderr)
                return 2
            time.sleep(0.2)
        time.sleep(2.0)  # every worker listening

        async def amain() -> int:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            return await run(a, serve.pid, url, out, tmp, stop)

        return asyncio.run(amain())
    finally:
        shutdown()
        mock_log.close()
        serve_log.close()
        if not a.keep_state:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"# stopped; serve log {out / 'serve.log'}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
