"""Exactly one ledger row per request, whatever happens to it; junk input never hurts the process."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import openai
import pytest

from satisfice import shared_sqlite
from satisfice.ledger import sqlite as ledger_sqlite
from satisfice.ledger.record import LedgerRow
from satisfice.ledger.sqlite import SQLiteLedger
from tests.conftest import standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import GatewayProcess
from tests.spec import validate
from tests.test_cli_and_simulated import run as run_cli


def post(gw: GatewayProcess, path: str, data: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(
        gw.url + path, data=data, method="POST", headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw.startswith(b"{") else raw
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


JUNK: list[Any] = [
    None,
    1,
    "x",
    [],
    {},
    {"model": None},
    {"model": "", "messages": [{"role": "user", "content": "x"}]},
    {"model": "gpt-4o-mini", "messages": "hi"},
    {"model": "gpt-4o-mini", "messages": [None]},
    {"model": "gpt-4o-mini", "messages": [{"role": "user"}]},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 5}]},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [{"type": "text"}]}]},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [5]}]},
    {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": 3}]}],
    },
    {"model": "gpt-4o-mini", "messages": [{"role": "tool", "content": "x"}]},
    {"model": "gpt-4o-mini", "messages": [{"role": "assistant", "tool_calls": "no"}]},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "tools": {"a": 1}},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "tool_choice": "always"},
    {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "xml"},
    },
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "n": 0},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_tokens": -5},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stop": [1, 2]},
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream_options": {}},
    {
        "model": "claude-3-5-haiku",
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
                ],
            }
        ],
    },
    {"model": "claude-3-5-haiku", "messages": [{"role": "user", "content": "x"}], "n": 3},
    {"model": "gemini-2.0-flash", "messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]},
]
MESSAGES_JUNK: list[Any] = [
    {},
    {"model": "gpt-4o-mini"},
    {"model": "gpt-4o-mini", "max_tokens": "5", "messages": []},
    {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
    {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "weird"}]}]},
]


@pytest.fixture()
def fresh_gateway(upstream: FakeUpstream, tmp_path: Path) -> Any:
    with GatewayProcess(tmp_path, standard_config(upstream), env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def test_junk_gets_client_errors_and_exactly_one_row_each(fresh_gateway: GatewayProcess) -> None:
    gw = fresh_gateway
    sent = 0
    for doc in JUNK:
        status, body = post(gw, "/v1/chat/completions", json.dumps(doc).encode())
        sent += 1
        assert 400 <= status < 500, (doc, status, body)
        validate("ErrorResponse", body)
    for doc in MESSAGES_JUNK:
        status, body = post(gw, "/v1/messages", json.dumps(doc).encode())
        sent += 1
        assert (
            status == 400 and body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        ), body
    # A client that sends half a body and leaves is a request too (a 499 row), and disturbs no one.
    with socket.create_connection(("127.0.0.1", gw.port)) as s:
        s.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"mo')
    sent += 1
    c = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "still fine"}])
    list(
        c.chat.completions.create(model="fallback", messages=[{"role": "user", "content": "s"}], stream=True)
    )
    with pytest.raises(openai.APIStatusError):
        c.chat.completions.create(model="openai/error500", messages=[{"role": "user", "content": "x"}])
    sent += 3
    rows = gw.rows(sent)
    assert len(gw.rows(sent + 1, timeout=1.0)) == sent  # and no extra row arrives later
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == sent
    statuses = [r["status"] for r in rows]
    assert statuses.count(499) == 1 and statuses.count(502) == 1 and statuses.count(200) == 2


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"", "no such table: requests"), (b"not a database at all\n" * 100, "file is not a database")],
)
def test_report_on_a_file_that_is_not_a_ledger_names_it_and_exits_2(
    tmp_path: Path, content: bytes, why: str
) -> None:
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(content)
    out = run_cli("report", "--ledger", str(ledger), cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        f"error: {ledger}: not a Satisfice ledger ({why}"
        + ("; an empty file or another program's database?)" if "table" in why else ")")
    ]


def ledger_ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM requests ORDER BY seq")]


def test_failing_ledger_writes_are_reported_once_and_in_health(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A full disk logged a traceback for every 50 ms batch, and /health still said ok. The rows
    wait and are written once writes work again (here: at close, the writer's last try)."""
    ledger = SQLiteLedger(str(tmp_path / "ledger.db"))
    side = sqlite3.connect(tmp_path / "ledger.db")
    side.execute("ALTER TABLE requests RENAME TO elsewhere")  # every write now fails
    side.commit()
    with caplog.at_level(logging.WARNING, logger="satisfice.ledger"):
        for i in range(5):
            ledger.submit(LedgerRow(id=f"req_{i}", ts=0.0, endpoint="chat"))
            time.sleep(0.1)  # one batch each
        problem = ledger.problem()
        side.execute("ALTER TABLE elsewhere RENAME TO requests")
        side.commit()
        ledger.submit(LedgerRow(id="req_ok", ts=0.0, endpoint="chat"))
        ledger.close()
    assert problem is not None and "rows wait for a retry" in problem and ledger.problem() is None
    failed = [r for r in caplog.records if "ledger write failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is None  # one line, no traceback
    assert any("work again: 6 waiting rows written, 0 were dropped" in r.getMessage() for r in caplog.records)
    assert ledger_ids(tmp_path / "ledger.db") == [*(f"req_{i}" for i in range(5)), "req_ok"]


def test_rows_that_met_another_process_lock_are_written_once_it_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lock held longer than a write waits for it (10 s) lost the batch for good."""
    monkeypatch.setattr(shared_sqlite, "WAIT_S", 0.2)  # how long a write waits for the lock
    path = tmp_path / "ledger.db"
    ledger = SQLiteLedger(str(path))
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    for i in range(5):
        ledger.submit(LedgerRow(id=f"req_{i}", ts=0.0, endpoint="chat"))
        time.sleep(0.1)
    deadline = time.monotonic() + 5
    while (problem := ledger.problem()) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "database is locked" in problem
    lock.execute("ROLLBACK")
    lock.close()
    deadline = time.monotonic() + 5
    while len(ledger_ids(path)) < 5 or ledger.problem() is not None:  # a retry, not the close, writes them
        assert time.monotonic() < deadline, ledger.problem()
        time.sleep(0.05)
    ledger.close()
    assert ledger_ids(path) == [f"req_{i}" for i in range(5)]  # each once, in order


def test_rows_waiting_for_a_retry_are_bounded_the_oldest_dropped_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ledger_sqlite, "MAX_HELD_ROWS", 3)
    path = tmp_path / "ledger.db"
    ledger = SQLiteLedger(str(path))
    side = sqlite3.connect(path)
    side.execute("ALTER TABLE requests RENAME TO elsewhere")
    side.commit()
    with caplog.at_level(logging.WARNING, logger="satisfice.ledger"):
        for i in range(5):
            ledger.submit(LedgerRow(id=f"req_{i}", ts=0.0, endpoint="chat"))
            time.sleep(0.1)
        problem = ledger.problem()
        side.execute("ALTER TABLE elsewhere RENAME TO requests")
        side.commit()
        ledger.close()
    assert problem == (
        "ledger writes are failing (no such table: requests): 3 rows wait for a retry, "
        "2 were dropped (over 3 waiting)"
    )
    assert any("work again: 3 waiting rows written, 2 were dropped" in r.getMessage() for r in caplog.records)
    assert ledger_ids(path) == ["req_2", "req_3", "req_4"]


def test_a_row_sqlite_refuses_costs_only_itself_and_the_writer_lives_on(tmp_path: Path) -> None:
    """An integer past SQLite's 2**63 raised OverflowError in the writer thread, which died: no later
    row was written and /health said ok."""
    path = tmp_path / "ledger.db"
    ledger = SQLiteLedger(str(path))
    ledger.submit(LedgerRow(id="req_good_1", ts=0.0, endpoint="chat"))
    ledger.submit(LedgerRow(id="req_bad", ts=0.0, endpoint="chat", prompt_tokens=2**63 + 5))
    ledger.submit(LedgerRow(id="req_good_2", ts=0.0, endpoint="chat"))
    deadline = time.monotonic() + 5
    while len(ledger_ids(path)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ledger.submit(LedgerRow(id="req_later", ts=0.0, endpoint="chat"))
    ledger.close()
    assert ledger_ids(path) == ["req_good_1", "req_good_2", "req_later"]


def test_a_body_that_stalls_gets_a_408_and_its_connection_back(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """A body that never finished held its connection for good (a few hundred took every descriptor)."""
    config = {**standard_config(upstream), "server": {"body_timeout_s": 0.5}}
    with (
        GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}) as gw,
        socket.create_connection(("127.0.0.1", gw.port)) as s,
    ):
        s.settimeout(10)
        started = time.monotonic()
        s.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"mo')
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408") and b'"code":"request_timeout"' in answer
        assert time.monotonic() - started < 5
        (row,) = gw.rows(1)
        assert row["status"] == 408


def test_a_stream_client_that_stops_reading_is_let_go(upstream: FakeUpstream, tmp_path: Path) -> None:
    """It held its handler (and its upstream connection) for as long as it liked; now, after the
    stream's idle timeout with the socket's buffer full, it is treated as gone and recorded."""
    config = {**standard_config(upstream), "reliability": {"stream_idle_timeout_s": 1}}
    tag = uuid.uuid4().hex[:6]
    text = " ".join("x" * 1000 for _ in range(3000))  # echoed back: a 3 MB answer
    body = json.dumps(
        {"model": f"openai/reader+{tag}", "stream": True, "messages": [{"role": "user", "content": text}]}
    )
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # and it never reads
        s.connect(("127.0.0.1", gw.port))
        head = (
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        s.sendall(head.encode() + body.encode())
        try:
            (row,) = gw.rows(1, timeout=20)
            assert row["outcome"] == "client_closed" and row["status"] == 499
            assert row["error"] == "client stopped reading: nothing read for 1 s"
        finally:
            s.close()


def test_ledger_retention_deletes_old_rows_only(tmp_path: Path) -> None:
    """Without a retention the ledger grew for good (~330 bytes a request)."""
    path = str(tmp_path / "ledger.db")
    now = time.time()
    old = SQLiteLedger(path)
    for i, age_days in enumerate((40, 10, 1)):
        old.submit(LedgerRow(id=f"req_{i}", ts=now - age_days * 86400, endpoint="chat"))
    old.close()
    kept = SQLiteLedger(path, retention_days=7)
    kept.submit(LedgerRow(id="req_new", ts=now, endpoint="chat"))
    kept.close()
    with sqlite3.connect(path) as conn:
        ids = sorted(r[0] for r in conn.execute("SELECT id FROM requests"))
    assert ids == ["req_2", "req_new"]


def test_report_prices_and_mixes_every_call_a_request_paid_for(tmp_path: Path) -> None:
    """A cascade's escalated-from answer and a race's cancelled loser are calls of other models than
    the one that answered: the model mix charged their cost to the answering model and left them out,
    and the blended price divided every call's cost by the answers' tokens alone."""
    from satisfice.ledger.report import summarize

    def attempt(model: str, outcome: str, cost: float, tokens: int) -> dict[str, Any]:
        return {"provider": "p", "model": model, "outcome": outcome, "cost_usd": cost, "tokens": tokens}

    escalated = [attempt("cheap", "ok", 0.0021, 1100), attempt("strong", "ok", 0.0009, 70)]
    raced = [attempt("cheap", "ok", 0.00004, 20), attempt("slow", "cancelled", 0.00012, 12)]
    rows: list[tuple[str, str, float, int, list[dict[str, Any]]]] = [
        ("cascade", "strong", 0.0030, 70, escalated),
        ("race", "cheap", 0.00016, 20, raced),
        ("hit", "cheap", 0.0, 20, []),  # a cache hit: no call
    ]
    path = str(tmp_path / "ledger.db")
    ledger = SQLiteLedger(path)
    for rid, model, cost, tokens, attempts in rows:
        ledger.submit(
            LedgerRow(
                id=rid,
                ts=1.0,
                endpoint="chat",
                model=model,
                provider="p",
                cost_usd=cost,
                prompt_tokens=tokens,
                attempts=json.dumps(attempts),
                n_attempts=len(attempts),
            )
        )
    ledger.close()
    s = summarize(path)
    mix = {m["model"]: (m["requests"], m["calls"], m["cost_usd"], m["tokens"]) for m in s["models"]}
    assert mix == {
        "cheap": (2, 2, pytest.approx(0.0021 + 0.00004), 1120),
        "strong": (1, 1, pytest.approx(0.0009), 70),
        "slow": (0, 1, pytest.approx(0.00012), 12),
    }
    assert s["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in s["models"]))
    assert s["billed_tokens"] == 1100 + 70 + 20 + 12
    assert s["blended_usd_per_mtok"] == pytest.approx(s["cost_usd"] / 1202 * 1e6)
