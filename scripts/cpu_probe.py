"""Quick hot-path probe: gateway CPU per request against the shared mock (one core, closed loop).

    .venv/bin/python scripts/cpu_probe.py [--requests 4000] [--concurrency 16] [--stream]

Starts the shared bench mock upstream and `satisfice serve` (environment-only mode, ledger on),
sends a fixed number of requests and prints the gateway's CPU time (user+sys from /proc) divided
by the number of requests. A quick check between changes; `scripts/bench_gateway.py` is the judge.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
MODEL = "mock-gpt"
MOCK = Path(os.environ.get("SATISFICE_SHARED", ROOT.parent / "shared")) / "bench" / "mock_upstream.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def load(url: str, n: int, conc: int, stream: bool) -> float:
    body = {
        "model": "mock-gpt",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 16,
        "stream": stream,
    }
    sent = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as s:

        async def worker() -> None:
            nonlocal sent
            while sent < n:
                sent += 1
                async with s.post(url, json=body, headers={"authorization": "Bearer k"}) as r:
                    await r.read()
                    assert r.status == 200, r.status

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--model", default="mock-gpt", help="e.g. auto: the learned route over the catalog")
    a = ap.parse_args()
    global MODEL
    MODEL = a.model
    mport, gport = free_port(), free_port()
    tmp = tempfile.mkdtemp()
    mock = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, str(MOCK), "--port", str(mport)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{mport}/v1",
        "OPENAI_API_KEY": "k",
        "SATISFICE_LEDGER": f"{tmp}/ledger.db",
    }
    t0 = time.perf_counter()
    gw = subprocess.Popen(
        ["taskset", "-c", "1", str(ROOT / ".venv" / "bin" / "satisfice"), "serve", "--port", str(gport)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{gport}/v1/chat/completions"
    try:
        while True:
            try:
                asyncio.run(load(url, 1, 1, False))
                break
            except (aiohttp.ClientError, OSError):
                time.sleep(0.02)
        startup = time.perf_counter() - t0
        asyncio.run(load(url, 500, a.concurrency, a.stream))  # warm-up
        c0 = cpu_seconds(gw.pid)
        wall = asyncio.run(load(url, a.requests, a.concurrency, a.stream))
        cpu = cpu_seconds(gw.pid) - c0
        print(
            f"{'stream' if a.stream else 'json'} c={a.concurrency} n={a.requests}: "
            f"gateway CPU {cpu * 1000 / a.requests:.3f} ms/request, {a.requests / wall:.0f} req/s, "
            f"RSS {rss_mb(gw.pid):.0f} MB, start to first completion {startup:.2f} s"
        )
    finally:
        gw.terminate()
        mock.terminate()
        gw.wait()
        mock.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
