"""`satisfice serve --workers N`: N processes share one port (SO_REUSEPORT), so throughput scales
with cores. The parent only supervises: it starts the workers, and on SIGINT/SIGTERM stops them.

Each worker has its own in-process state (breakers, memory cache, hedge history); the ledger, the
learning statistics and a SQLite cache are files all workers share (SQLite WAL).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from types import FrameType

# A worker drains in up to twice the server's shutdown timeout (its handlers, then its cleanup) and
# then flushes the ledger: the supervisor waits that long, and a margin, before killing it.
_GRACE_S = 30.0


_PARENT_CHECK_S = 1.0  # how often a worker checks that its supervisor still runs


def _stop_when_orphaned(parent: int) -> None:
    """Stop this worker, gracefully as on SIGINT, once `parent` is gone (killed outright, say by
    the OOM killer): else it served on unsupervised for good and held the port."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_S)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, name="satisfice-parent-watch", daemon=True).start()


def _worker(config: str | None, host: str, port: int, parent: int) -> None:
    from satisfice.cli import configure_logging, run_server, settings_from

    configure_logging()  # a spawned process starts with no logging set up
    _stop_when_orphaned(parent)
    run_server(settings_from(config), host, port, reuse_port=True, quiet=True)


def supervise(config: str | None, host: str, port: int, workers: int) -> int:
    """Run `workers` server processes on host:port until a signal, then stop them. Returns an exit
    code: 0 after a signal, 1 when a worker died on its own."""
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no event loop or threads forked
    procs = [
        ctx.Process(
            target=_worker, args=(config, host, port, os.getpid()), name=f"satisfice-worker-{i}", daemon=False
        )
        for i in range(workers)
    ]
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for p in procs:
        p.start()
    while not stop.is_set() and all(p.is_alive() for p in procs):
        stop.wait(0.2)
    for p in procs:
        if p.is_alive() and p.pid is not None:
            os.kill(p.pid, signal.SIGINT)  # aiohttp shuts down gracefully on SIGINT
    deadline = time.monotonic() + _GRACE_S  # one for all: they drain at the same time
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()
    return 0 if stop.is_set() else 1
