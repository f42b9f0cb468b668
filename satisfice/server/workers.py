"""`satisfice serve --workers N`: N processes share one port (SO_REUSEPORT), so throughput scales
with cores. The parent only supervises: it starts the workers, and on SIGINT/SIGTERM stops them.

Each worker has its own in-process state (breakers, memory cache, hedge history); the ledger, the
learning statistics and a SQLite cache are files all workers share (SQLite WAL).
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import multiprocessing.process
import os
import signal
import threading
import time
from types import FrameType

log = logging.getLogger("satisfice.workers")

# A worker drains in up to twice the server's shutdown timeout (its handlers, then its cleanup) and
# then flushes the ledger: the supervisor waits that long, and a margin, before killing it.
_GRACE_S = 30.0
# A worker that dies on its own is replaced; more than this many within the window is a crash loop
# (say a worker that cannot start), and the gateway stops.
_MAX_REPLACED = 5
_REPLACE_WINDOW_S = 60.0


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
    """Run `workers` server processes on host:port until a signal, then stop them. A worker that
    dies on its own is replaced, unless workers keep dying (a crash loop). Returns an exit code: 0
    after a signal, 1 when workers kept dying."""
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no event loop or threads forked

    def start(i: int) -> multiprocessing.process.BaseProcess:
        p = ctx.Process(
            target=_worker, args=(config, host, port, os.getpid()), name=f"satisfice-worker-{i}", daemon=False
        )
        p.start()
        return p

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    procs = [start(i) for i in range(workers)]
    replaced: collections.deque[float] = collections.deque()  # when, within the last window
    looping = False
    while not stop.is_set() and not looping:
        stop.wait(0.2)
        for i, p in enumerate(procs):
            if stop.is_set() or p.is_alive():
                continue
            now = time.monotonic()
            while replaced and now - replaced[0] > _REPLACE_WINDOW_S:
                replaced.popleft()
            if len(replaced) >= _MAX_REPLACED:
                log.error(
                    "workers keep dying (%d replaced within %g s): stopping", len(replaced), _REPLACE_WINDOW_S
                )
                looping = True
                break
            replaced.append(now)
            log.error("worker %s (pid %s) exited with %s: starting another", p.name, p.pid, p.exitcode)
            procs[i] = start(i)
    for p in procs:
        if p.is_alive() and p.pid is not None:
            os.kill(p.pid, signal.SIGINT)  # aiohttp shuts down gracefully on SIGINT
    deadline = time.monotonic() + _GRACE_S  # one for all: they drain at the same time
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()
    return 1 if looping else 0
