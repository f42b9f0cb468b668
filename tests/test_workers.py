"""`satisfice serve --workers 2`: two processes share the port, both serve, one ledger gets every row,
and feedback reaches a request whichever worker routed it."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai

from tests.conftest import cheap_tool_model, standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess, free_port


def test_two_workers_share_the_port_and_the_ledger(upstream: FakeUpstream, tmp_path: Path) -> None:
    config = standard_config(upstream)
    config["routes"]["learn"] = {"strategy": "auto", "candidates": ["gpt-4o-mini", "gpt-4o"]}
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}, args=("--workers", "2")) as gw:
        pids: set[int] = set()
        deadline = time.monotonic() + 30  # the second worker may still be starting when the first answers
        while len(pids) < 2 and time.monotonic() < deadline:
            # a new connection each time: the kernel spreads them over the listening workers
            with urllib.request.urlopen(gw.url + "/health", timeout=5) as r:
                pids.add(json.loads(r.read())["pid"])
        assert len(pids) == 2
        assert gw.proc is not None and gw.proc.pid not in pids  # the parent only supervises
        client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
        ids = set()
        for i in range(20):
            raw = openai.OpenAI(
                base_url=gw.base_url, api_key="k", max_retries=0
            ).chat.completions.with_raw_response
            resp = raw.create(model="learn", messages=[{"role": "user", "content": f"hello {i}"}])
            rid = resp.headers["x-satisfice-request-id"]
            # At once, on a new connection: often the other worker, before this one's writer committed.
            assert gw.feedback(rid, 1.0) == 200
            ids.add(rid)
        client.close()
        rows = gw.rows(count=20)
        assert ids <= {r["id"] for r in rows}
    assert gw.proc.returncode == 0  # stopped cleanly on SIGINT, workers included
    # The banner shows what the workers serve: the implied `auto` route, and learning on.
    assert "route    auto " in gw.output and "learning off" not in gw.output


def sqlite_cache_workers(
    upstream: FakeUpstream, tmp_path: Path, route: str, cache: dict[str, Any]
) -> GatewayProcess:
    """Two workers sharing a SQLite cache, with `route` (gpt-4o-mini) under its own cache policy."""
    config = standard_config(upstream)
    config["cache"] = {"backend": "sqlite", "path": str(tmp_path / "cache.db"), "when": "always"}
    config["routes"][route] = {"strategy": "first", "candidates": ["gpt-4o-mini"], "cache": cache}
    return GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}, args=("--workers", "2"))


@functools.cache
def _client(base_url: str) -> openai.OpenAI:
    # `Connection: close`: each request on a new connection (the kernel spreads connections over
    # the workers), without building a client per request (~60 ms each).
    return openai.OpenAI(
        base_url=base_url, api_key="k", max_retries=0, default_headers={"Connection": "close"}
    )


def ask(gw: GatewayProcess, model: str, text: str) -> tuple[str, str]:
    """The cache status and request id of one request, on a new connection."""
    raw = _client(gw.base_url).chat.completions
    resp = raw.with_raw_response.create(model=model, messages=[{"role": "user", "content": text}])
    return resp.headers["x-satisfice-cache"], resp.headers["x-satisfice-request-id"]


def ask_until(gw: GatewayProcess, model: str, text: str, want: str, wait_s: float = 3.0) -> tuple[str, str]:
    """`ask` until the cache status is `want` (or `wait_s` has passed): answers are stored in the
    background, since a request never waits on the store, so the next request may come first."""
    deadline = time.monotonic() + wait_s
    while True:
        status, rid = ask(gw, model, text)
        if status == want or time.monotonic() > deadline:
            return status, rid
        time.sleep(0.02)


def test_feedback_on_cached_answers_reaches_them_from_either_worker(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """With a shared SQLite cache, feedback on a hit's id evicts the entry and good feedback proves
    an answer awaiting proof, whichever worker the feedback reaches (each kept them in its memory,
    so about half of such feedback was a 404 and did nothing)."""
    with sqlite_cache_workers(upstream, tmp_path, "proven", {"require_proven": True}) as gw:
        for i in range(12):
            text = f"Explain the tides, case {i}."
            assert ask(gw, "first-ok", text)[0] == "miss"
            status, hit = ask_until(gw, "first-ok", text, "hit-exact")
            assert status == "hit-exact"
            assert gw.feedback(hit, 0.0) == 200  # at once, often to the other worker
            assert ask(gw, "first-ok", text)[0] == "miss"  # the bad answer was evicted
            status, pending = ask(gw, "proven", text)
            assert status == "miss"
            assert ask(gw, "proven", text)[0] == "miss"  # awaiting proof: not served
            assert gw.feedback(pending, 1.0) == 200
            assert ask_until(gw, "proven", text, "hit-exact")[0] == "hit-exact"


def test_both_workers_serve_paraphrases_of_an_answer_one_of_them_stored(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    with sqlite_cache_workers(upstream, tmp_path, "faq", {"semantic": True}) as gw:
        assert ask(gw, "faq", "How do I reset the password of my account?")[0] == "miss"
        time.sleep(1.5)  # the other worker's index reads new entries at most once a second
        # New connections land on either worker; each must find the entry by meaning.
        statuses = [ask(gw, "faq", "How can I reset my account password?")[0] for _ in range(10)]
        assert statuses == ["hit-semantic"] * 10


def _serve_workers(
    tmp_path: Path, config: dict[str, Any], port: int, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    cmd = [
        sys.executable,
        "-m",
        "satisfice",
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        "--config",
        str(path),
    ]
    env = {**os.environ, "FAKE_OPENAI_KEY": "k"}
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the workers too, not only the parent
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_two_workers_refuse_a_bad_config_in_one_line(upstream: FakeUpstream, tmp_path: Path) -> None:
    """It printed the banner, then a traceback per worker, exit 1; with one worker it is one line."""
    config = standard_config(upstream)
    config["routes"]["first-ok"]["baseline"] = "gpt-4oo"
    done = _serve_workers(tmp_path, config, free_port())
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "config error" in done.stderr
    assert "workers" not in done.stdout  # no banner


def test_two_workers_say_when_the_port_is_taken(upstream: FakeUpstream, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _serve_workers(tmp_path, standard_config(upstream), taken.getsockname()[1])
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "cannot listen on" in done.stderr


def test_feedback_on_a_cached_auto_answer_reaches_the_learner_after_the_reply(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The cache knew the id, so the client is answered at once; the learner still gets the score
    once the answering worker's decision is committed (the reply used to wait ~0.75 s for it)."""
    config = standard_config(upstream)
    config["cache"] = {"backend": "sqlite", "path": str(tmp_path / "cache.db"), "when": "always"}
    config["routes"]["picky"] = {
        "strategy": "auto",
        "router": "prior",
        "candidates": ["gpt-4o-mini", "gpt-4o"],
    }
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}, args=("--workers", "2")) as gw:
        ids = []
        for i in range(4):
            status, rid = ask(gw, "picky", f"Describe the water cycle, part {i}.")
            assert status == "miss"
            assert gw.feedback(rid, 0.0) == 200
            ids.append(rid)
        deadline = time.monotonic() + 5
        while True:
            conn = sqlite3.connect(gw.env["SATISFICE_LEARN"])
            try:
                rows = conn.execute("SELECT request_id FROM outcomes WHERE source = 'feedback'").fetchall()
            finally:
                conn.close()
            if {r[0] for r in rows} >= set(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert {r[0] for r in rows} >= set(ids)


def test_a_tool_loop_stays_with_its_model_whichever_worker_takes_the_next_step(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The turns conversation affinity remembers are in the shared learning file: a tool loop's
    next step, on a new connection each time (the kernel spreads them over both workers), goes to
    the model that called the tool, though the knob alone would now pick another."""
    config = standard_config(upstream)
    config["models"] = [cheap_tool_model("toolcheap")]
    config["routes"]["agent"] = {
        "strategy": "auto",
        "router": "prior",
        "knob": "quality=0",
        "candidates": ["toolcheap", "gpt-4o"],
    }
    weather: Any = {
        "type": "function",
        "function": {
            "name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}, args=("--workers", "2")) as gw:
        ask = [{"role": "user", "content": "What is the weather in Oslo?"}]
        first = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0).chat.completions
        raw = first.with_raw_response.create(model="agent", messages=ask, tools=[weather])  # type: ignore[arg-type]
        call = raw.parse().choices[0].message
        assert raw.headers["x-satisfice-model"] == "toolcheap" and call.tool_calls
        result = {"role": "tool", "tool_call_id": call.tool_calls[0].id, "content": "-3 C"}
        for _ in range(12):  # all on one worker: 1 in 2,048
            nxt = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0).chat.completions
            raw = nxt.with_raw_response.create(
                model="agent:quality=1",
                messages=[*ask, call, result],  # type: ignore[list-item]
                tools=[weather],
            )
            assert raw.headers["x-satisfice-model"] == "toolcheap", raw.headers["x-satisfice-reason"]
            assert "kept: it answered this tool loop's previous turn" in raw.headers["x-satisfice-reason"]
        # Streamed: the turn is remembered before the stream's last bytes, so a next step sent the
        # moment the stream ends finds it on either worker.
        bergen: list[Any] = [{"role": "user", "content": "What is the weather in Bergen?"}]
        calls: dict[int, dict[str, Any]] = {}
        for chunk in first.create(model="agent", messages=bergen, tools=[weather], stream=True):
            for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                c = calls.setdefault(
                    tc.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                c["id"] = tc.id or c["id"]
                if tc.function is not None:
                    c["function"]["name"] += tc.function.name or ""
                    c["function"]["arguments"] += tc.function.arguments or ""
        streamed: Any = {
            "role": "assistant",
            "content": None,
            "tool_calls": [calls[i] for i in sorted(calls)],
        }
        answered: Any = {"role": "tool", "tool_call_id": calls[0]["id"], "content": "4 C"}
        for _ in range(12):
            nxt = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0).chat.completions
            raw = nxt.with_raw_response.create(
                model="agent:quality=1",
                messages=[*bergen, streamed, answered],
                tools=[weather],
            )
            assert raw.headers["x-satisfice-model"] == "toolcheap", raw.headers["x-satisfice-reason"]


def test_feedback_waits_for_the_other_workers_cache_write_with_learning_off(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Without a learner nothing waited for another worker's write: feedback sent as soon as the
    answer came could reach the worker that did not answer before the answer was stored (here
    another process's lock holds the write back a moment), a 404, and the answer stayed unproven."""
    config = standard_config(upstream)
    config["cache"] = {"backend": "sqlite", "path": str(tmp_path / "cache.db"), "when": "always"}
    proven = {"strategy": "first", "candidates": ["gpt-4o-mini"], "cache": {"require_proven": True}}
    config["routes"]["proven"] = proven
    config["learning"] = {"enabled": False}
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}, args=("--workers", "2")) as gw:
        statuses = []
        for i in range(6):  # the feedback reaches the other worker about every other time
            lock = sqlite3.connect(tmp_path / "cache.db", isolation_level=None, check_same_thread=False)
            lock.execute("BEGIN IMMEDIATE")
            status, rid = ask(gw, "proven", f"Explain the tides, case {i}.")
            assert status == "miss"
            threading.Timer(0.1, lock.execute, ("ROLLBACK",)).start()  # within a write's 0.5 s
            statuses.append(gw.feedback(rid, 1.0))
            time.sleep(0.1)
            lock.close()
            assert ask_until(gw, "proven", f"Explain the tides, case {i}.", "hit-exact")[0] == "hit-exact"
        assert statuses == [200] * 6


def test_a_signal_to_the_whole_process_group_lets_in_flight_requests_finish(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Ctrl-C in a terminal (or systemd stopping the service's cgroup) signals every worker as well
    as the parent, which then signals them again: that second signal broke off the worker's
    graceful shutdown, so requests in flight were cut and their ledger rows lost."""
    config = standard_config(upstream)
    config["reliability"] = {**config["reliability"], "timeout_s": 10, "deadline_s": 30}
    gw = GatewayProcess(
        tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}, args=("--workers", "2"), new_session=True
    )
    with gw, ThreadPoolExecutor(6) as pool:
        clients = [
            openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=20) for _ in range(6)
        ]

        def call(i: int) -> str:
            resp = clients[i].chat.completions.with_raw_response.create(
                model="openai/slow-2500", messages=[{"role": "user", "content": f"x{i}"}]
            )
            assert resp.parse().choices[0].message.content == f"echo: x{i}"
            return resp.headers["x-satisfice-request-id"]

        calls = [pool.submit(call, i) for i in range(6)]  # new connections: on both workers
        time.sleep(1.0)  # every request has reached a worker
        assert gw.proc is not None
        os.killpg(gw.proc.pid, signal.SIGINT)
        ids = {f.result(timeout=30) for f in calls}
        assert gw.proc.wait(timeout=30) == 0
    assert ids <= {r["id"] for r in gw.rows()}


def test_a_second_gateway_with_workers_refuses_the_port_the_first_one_serves(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The workers listen with SO_REUSEPORT, and so did the parent's check that the port is free:
    a second `serve --workers 2` on the same port passed it, its workers joined the first one's,
    and the kernel silently gave them half the connections (under another config and ledger)."""
    with GatewayProcess(
        tmp_path, standard_config(upstream), env={"FAKE_OPENAI_KEY": "k"}, args=("--workers", "2")
    ) as gw:
        other = tmp_path / "other"
        other.mkdir()
        done = _serve_workers(other, standard_config(upstream), gw.port, timeout=10)
        assert done.returncode == 2
        assert "cannot listen on" in done.stderr


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by init) has stopped too.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_workers_stop_when_their_supervisor_is_killed(upstream: FakeUpstream, tmp_path: Path) -> None:
    """A parent killed outright (kill -9, the OOM killer) left its workers serving unsupervised for
    good, holding the port: a restarted gateway could not listen, or, before, shared the port with
    them and their old config."""
    gw = GatewayProcess(
        tmp_path, standard_config(upstream), env={"FAKE_OPENAI_KEY": "k"}, args=("--workers", "2")
    )
    with gw:
        pids: set[int] = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:
            with urllib.request.urlopen(gw.url + "/health", timeout=5) as r:
                pids.add(json.loads(r.read())["pid"])
        assert gw.proc is not None
        gw.proc.kill()
        gw.proc.wait()
        try:
            deadline = time.monotonic() + 10
            while any(_alive(p) for p in pids) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(_alive(p) for p in pids)
        finally:
            for p in pids:
                if _alive(p):
                    os.kill(p, signal.SIGKILL)


def _worker_pids(gw: GatewayProcess, count: int, wait_s: float = 30) -> set[int]:
    """The pids of the workers answering /health, once `count` distinct ones did (new connections)."""
    pids: set[int] = set()
    deadline = time.monotonic() + wait_s
    while len(pids) < count and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(gw.url + "/health", timeout=5) as r:
                pids.add(json.loads(r.read())["pid"])
        except OSError:
            time.sleep(0.05)
    return pids


def test_a_worker_that_dies_is_replaced(upstream: FakeUpstream, tmp_path: Path) -> None:
    """One worker killed (the OOM killer picks the biggest process) made the parent stop the other
    one too and exit: the whole gateway went down. Now another worker takes its place."""
    gw = GatewayProcess(
        tmp_path, standard_config(upstream), env={"FAKE_OPENAI_KEY": "k"}, args=("--workers", "2")
    )
    with gw:
        first = _worker_pids(gw, 2)
        assert len(first) == 2
        dead = min(first)
        os.kill(dead, signal.SIGKILL)
        time.sleep(0.5)
        assert gw.proc is not None and gw.proc.poll() is None  # the parent serves on
        now = _worker_pids(gw, 2)
        assert len(now) == 2 and dead not in now
        client = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
        answer = client.chat.completions.create(
            model="first-ok", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content == "echo: hi"
    assert gw.proc.returncode == 0
    assert "starting another" in gw.output


def test_two_workers_refuse_an_unusable_ledger_file_in_one_line(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The parent's check of the config skipped the state files: each worker failed on an unusable
    ledger path with a traceback (and kept being restarted); with one worker it is one line."""
    config = standard_config(upstream)
    config["ledger"] = {"path": str(tmp_path / "ledger-dir")}
    (tmp_path / "ledger-dir").mkdir()
    done = _serve_workers(tmp_path, config, free_port(), timeout=20)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "config error: ledger.path" in done.stderr
    assert "workers" not in done.stdout  # no banner
