"""Runs the real `satisfice serve` in a subprocess on 127.0.0.1 for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class GatewayProcess:
    def __init__(
        self,
        tmp: Path,
        config: dict[str, Any] | None,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        new_session: bool = False,
    ) -> None:
        self.args = args  # extra `satisfice serve` arguments
        # Its own process group, as a terminal's foreground job: a signal to the group reaches
        # every process (Ctrl-C, or systemd stopping a service's whole cgroup).
        self.new_session = new_session
        self.tmp = tmp
        self.port = free_port()
        self.ledger = str(tmp / "ledger.db")
        self.config_path: Path | None = None
        if config is not None:
            config = dict(config)
            config.setdefault("ledger", {"path": self.ledger})
            self.config_path = tmp / "satisfice.yaml"
            self.config_path.write_text(yaml.safe_dump(config))
        base_env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        base_env["SATISFICE_LEDGER"] = self.ledger
        base_env["SATISFICE_LEARN"] = str(tmp / "learn.db")
        base_env["PYTHONPATH"] = str(ROOT)
        self.env = {**base_env, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.output = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def __enter__(self) -> GatewayProcess:
        cmd = [sys.executable, "-m", "satisfice", "serve", "--port", str(self.port), *self.args]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        self.proc = subprocess.Popen(
            cmd,
            env=self.env,
            cwd=self.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=self.new_session,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read() if self.proc.stdout else ""
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{out}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError("gateway did not become healthy in 30 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.output = self.proc.stdout.read() if self.proc.stdout else ""

    def rows(self, count: int | None = None, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Ledger rows, waiting (bounded) until at least `count` are written by the background writer."""
        deadline = time.monotonic() + timeout
        while True:
            found: list[dict[str, Any]] = []
            if Path(self.ledger).exists():
                conn = sqlite3.connect(self.ledger)
                conn.row_factory = sqlite3.Row
                try:
                    found = [dict(r) for r in conn.execute("SELECT * FROM requests ORDER BY ts")]
                except sqlite3.OperationalError:
                    found = []
                finally:
                    conn.close()
            if count is None or len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def row(self, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for r in self.rows():
                if r["id"] == request_id:
                    return r
            time.sleep(0.05)
        raise AssertionError(f"no ledger row for {request_id}")

    def feedback(self, request_id: str, score: float) -> int:
        """POST /v1/feedback; the HTTP status."""
        req = urllib.request.Request(
            self.base_url + "/feedback",
            method="POST",
            data=json.dumps({"request_id": request_id, "score": score}).encode(),
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return e.code
