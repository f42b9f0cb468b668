"""The SQLite cache store through the real gateway: a locked file costs no answer and stalls
nothing, and a file that cannot serve as a store is named as a setting, not a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import openai

from tests.cache.test_cache_e2e import cache_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import ROOT, GatewayProcess


def test_a_locked_cache_file_costs_no_answer(upstream: FakeUpstream, tmp_path: Path) -> None:
    """Another process holds the write lock. Before: a plain answer (already paid for) became a 500
    after 10 s with the event loop stalled, and a streamed one, fully delivered, was recorded as a
    500."""
    config = cache_config(upstream, tmp_path, backend="sqlite")
    with GatewayProcess(tmp_path, config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        client = openai.OpenAI(base_url=gw.base_url, api_key="sk-tenant-a", max_retries=0, timeout=30)
        lock = sqlite3.connect(tmp_path / "cache.db", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            params: dict[str, Any] = {"model": "gpt-4o-mini", "temperature": 0}
            marker = uuid.uuid4().hex
            started = time.monotonic()
            with client.chat.completions.with_streaming_response.create(
                messages=[{"role": "user", "content": f"Stream it {marker}"}], stream=True, **params
            ) as resp:
                streamed_id = resp.headers["x-satisfice-request-id"]
                text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
            plain = client.chat.completions.with_raw_response.create(
                messages=[{"role": "user", "content": f"Answer it {marker}"}], **params
            )
            elapsed = time.monotonic() - started
            # The answers are stored after they went out, each write giving up after 0.5 s: keep the
            # lock long enough that they meet it (the log line below shows they did).
            time.sleep(1.5)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert text and plain.parse().choices[0].message.content
        assert elapsed < 5, f"{elapsed:.1f} s"
        for rid in (streamed_id, plain.headers["x-satisfice-request-id"]):
            row = gw.row(rid)
            assert (row["status"], row["outcome"], row["cache"]) == (200, "ok", "miss"), row
        assert len([r for r in gw.rows() if r["id"] == streamed_id]) == 1
    assert "Traceback" not in gw.output and "cache store failed" in gw.output


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "satisfice", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_cache_file_that_cannot_serve_is_named_by_check_and_stops_serve(tmp_path: Path) -> None:
    garbage = tmp_path / "cache.db"
    garbage.write_text("not a database")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"cache: {{backend: sqlite, path: '{garbage}'}}\nledger: {{path: '{tmp_path / 'ledger.db'}'}}\n"
    )
    out = run("check", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 0 and f"warning: cache.path: '{garbage}': file is not a database" in out.stdout
    out = run("serve", "--config", str(config), "--port", "0", cwd=tmp_path)
    assert out.returncode == 2 and "config error: cache.path: cannot use" in out.stderr
    assert "Traceback" not in out.stderr
    config.write_text(f"cache: {{backend: sqlite, path: '{tmp_path}'}}\n")  # a folder
    out = run("check", "--config", str(config), cwd=tmp_path)
    assert f"warning: cache.path: '{tmp_path}': it is a directory" in out.stdout
