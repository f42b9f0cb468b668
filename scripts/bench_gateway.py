"""Run the shared gateway overhead harness with Satisfice plugged in beside its peers.

    .venv/bin/python scripts/bench_gateway.py [--routed] [--peer floor ...] [harness args...]

By default Satisfice runs as `satisfice serve` in environment-only mode (OPENAI_BASE_URL = the
harness's mock, so the model names pass through unchanged) with the SQLite ledger on, one process on
one core.

With --routed (issue 6's setting) a second variant, satisfice-routed, runs from a config file:
the requested model `mock-gpt` is a route with strategy `auto` and the learned router over two
catalog-priced candidates the mock serves (`mock-small`, `mock-large`); the ledger is on; the
exact cache is on for every request (`when: always`) with `require_proven: true`: every request
computes its key, looks it up, misses and hands its answer to the cache, which holds it pending a
proof that never comes (an auto route has no verifier), so the next identical request misses too:
"cache on and missing". (Until session 4 this variant used a 1 ms TTL instead. The harness sends
one fixed prompt, so at 16 connections about half the requests arrived within 1 ms of an
identical one and were cache hits, which flattered its figures; the ledger showed 10,953 hits and
10,563 misses in one 4 s run.)
The harness sends one fixed prompt, so the router's feature cache answers every request after the
first; scripts/bench_router.py measures the decision on prompts new to the process.

With --rate-limit a variant satisfice-routed-rl runs the routed set-up with a Redis-backed rate
limit per caller key, on requests and on tokens, so high that it never refuses: every request is
admitted by one script call to Redis and its token count is corrected after the answer (batched).
The script starts its own redis-server (pinned to core 0 with the mock and the load generator, off
the gateway's core 1) and prints what Redis spent per script call (INFO commandstats) and in all,
since that CPU is not the gateway's.

With --cache-hits a third variant, satisfice-hits, has a cache TTL of an hour instead, so after the
first request every request is an exact cache hit: the cost of serving a hit.

Everything the harness prints (its method, the tables, ratios) is passed through; results land in
bench-results/ (gitignored).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = Path(os.environ.get("SATISFICE_SHARED", ROOT.parent / "shared")) / "bench"
CACHE = Path(os.environ.get("GWBENCH_CACHE", Path.home() / ".cache" / "gwbench"))


ROUTED_CONFIG: dict[str, Any] = {
    "providers": [
        {
            "name": "mock",
            "type": "openai",
            "base_url": "${BENCH_UPSTREAM}",
            "api_key": "${BENCH_KEY}",
            "models": ["mock-small", "mock-large"],
        }
    ],
    "models": [
        {
            "id": "mock-small",
            "provider": "mock",
            "input_per_mtok": 0.15,
            "output_per_mtok": 0.6,
            "context_window": 128000,
            "quality_prior": 0.75,
        },
        {
            "id": "mock-large",
            "provider": "mock",
            "input_per_mtok": 2.5,
            "output_per_mtok": 10.0,
            "context_window": 128000,
            "quality_prior": 0.9,
        },
    ],
    "routes": {
        "mock-gpt": {"strategy": "auto", "router": "learned", "candidates": ["mock-small", "mock-large"]}
    },
}


RATE_LIMITS: dict[str, Any] = {
    "store": "redis",
    "redis_url": "${BENCH_REDIS_URL}",
    "rules": [{"per": "key", "requests_per_minute": 10**9, "tokens_per_minute": 10**12}],
}


def _spec(name: str, satisfice: str, tmp: Path, redis_url: str = "") -> dict[str, Any]:
    """The harness's gateway spec of one variant: satisfice (environment-only passthrough),
    satisfice-routed (auto route, cache on and missing), satisfice-hits (every request a cache hit)."""
    cmd = f"{satisfice} serve --host 127.0.0.1 --port {{port}}"
    env = {"SATISFICE_LEDGER": "{workdir}/ledger.db", "SATISFICE_LEARN": "{workdir}/learn.db"}
    if name == "satisfice":
        env |= {"OPENAI_BASE_URL": "{upstream_base_url}", "OPENAI_API_KEY": "{api_key}"}
    else:
        cache = {"ttl_s": 3600} if name == "satisfice-hits" else {"require_proven": True}  # see the doc
        config = {**ROUTED_CONFIG, "cache": {"when": "always", **cache}}
        if name == "satisfice-routed-rl":
            config["rate_limits"] = RATE_LIMITS
            env |= {"BENCH_REDIS_URL": redis_url}
        (tmp / f"{name}.json").write_text(json.dumps(config))
        cmd += f" --config {tmp / f'{name}.json'}"
        env |= {"BENCH_UPSTREAM": "{upstream_base_url}", "BENCH_KEY": "{api_key}"}
    return {"name": name, "cmd": cmd, "env": env, "health": "/health"}


def main(argv: list[str]) -> int:
    harness_py = CACHE / "bench-venv" / "bin" / "python"
    if not harness_py.exists():
        print(f"harness venv missing: run `bash {SHARED_BENCH}/setup.sh` first", file=sys.stderr)
        return 2
    satisfice = shutil.which("satisfice", path=str(ROOT / ".venv" / "bin")) or "satisfice"
    tmp = Path(tempfile.mkdtemp(prefix="satisfice-bench-"))
    variants = ["satisfice"]
    variants += ["satisfice-routed"] if "--routed" in argv else []
    variants += ["satisfice-routed-rl"] if "--rate-limit" in argv else []
    variants += ["satisfice-hits"] if "--cache-hits" in argv else []
    args = [a for a in argv if a not in ("--routed", "--cache-hits", "--rate-limit")]
    redis = _start_redis(tmp) if "--rate-limit" in argv else None
    spec = [_spec(name, satisfice, tmp, redis[1] if redis else "") for name in variants]
    spec_file = tmp / "gateways.json"
    spec_file.write_text(json.dumps(spec))
    args = args or ["--peer", "floor", "--peer", "litellm", "--peer", "portkey", "--repeats", "2"]
    if "--out" not in args:
        args += ["--out", str(ROOT / "bench-results")]
    run = [str(harness_py), str(SHARED_BENCH / "gateway_bench.py"), "--gateway-file", str(spec_file), *args]
    print("running:", " ".join(run), flush=True)
    try:
        return subprocess.call(run)
    finally:
        if redis is not None:
            _report_redis(*redis)


def _start_redis(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = 6390 + os.getpid() % 500
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    proc = subprocess.Popen(
        [
            *pin,
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    return proc, f"redis://127.0.0.1:{port}/0"


def _report_redis(proc: subprocess.Popen[bytes], url: str) -> None:
    """What Redis itself spent: not in the gateway's CPU figures, so printed here."""
    port = url.rsplit(":", 1)[1].split("/")[0]
    stats = subprocess.run(
        ["redis-cli", "-p", port, "INFO", "commandstats"], capture_output=True, text=True, check=False
    ).stdout
    with open(f"/proc/{proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    print("\nredis-server (rate limit store), whole run:")
    print(f"  process CPU {cpu_s:.2f} s")
    for line in stats.splitlines():
        if line.startswith(("cmdstat_evalsha", "cmdstat_eval", "cmdstat_get", "cmdstat_set")):
            print("  " + line)
    proc.terminate()
    proc.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
