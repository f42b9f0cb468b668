"""Run the shared gateway overhead harness with Satisfice plugged in beside its peers.

    .venv/bin/python scripts/bench_gateway.py [--peer floor --peer litellm --peer portkey] [harness args...]

Satisfice runs as `satisfice serve` in environment-only mode (OPENAI_BASE_URL = the harness's mock,
so the model names pass through unchanged) with the SQLite ledger on, one process on one core.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = Path(os.environ.get("SATISFICE_SHARED", ROOT.parent / "shared")) / "bench"
CACHE = Path(os.environ.get("GWBENCH_CACHE", Path.home() / ".cache" / "gwbench"))


def main(argv: list[str]) -> int:
    harness_py = CACHE / "bench-venv" / "bin" / "python"
    if not harness_py.exists():
        print(f"harness venv missing: run `bash {SHARED_BENCH}/setup.sh` first", file=sys.stderr)
        return 2
    satisfice = shutil.which("satisfice", path=str(ROOT / ".venv" / "bin")) or "satisfice"
    spec = [
        {
            "name": "satisfice",
            "cmd": f"{satisfice} serve --host 127.0.0.1 --port {{port}}",
            "env": {
                "OPENAI_BASE_URL": "{upstream_base_url}",
                "OPENAI_API_KEY": "{api_key}",
                "SATISFICE_LEDGER": "{workdir}/ledger.db",
            },
            "health": "/health",
        }
    ]
    spec_file = Path(tempfile.mkdtemp(prefix="satisfice-bench-")) / "gateways.json"
    spec_file.write_text(json.dumps(spec))
    args = argv or ["--peer", "floor", "--peer", "litellm", "--peer", "portkey", "--repeats", "2"]
    if "--out" not in args:
        args += ["--out", str(ROOT / "bench-results")]
    cmd = [str(harness_py), str(SHARED_BENCH / "gateway_bench.py"), "--gateway-file", str(spec_file), *args]
    print("running:", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
