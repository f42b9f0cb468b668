"""The commands a newcomer runs: keyless serve with the simulated provider, check, models, report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from tests.gateway_proc import ROOT, GatewayProcess
from tests.spec import validate


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "satisfice", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keyless_tryout_serves_simulated_answers_and_reports(tmp_path: Path) -> None:
    with GatewayProcess(tmp_path, None) as gw:
        c = openai.OpenAI(base_url=gw.base_url, api_key="anything", max_retries=0)
        raw = c.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "hi"}]
        )
        resp = raw.parse()
        assert "simulated" in (resp.choices[0].message.content or "")
        validate("CreateChatCompletionResponse", json.loads(raw.http_response.content))
        validate("CreateChatCompletionResponse", json.loads(raw.http_response.content))
        assert (
            raw.headers["x-satisfice-provider"] == "simulated" and raw.headers["x-satisfice-route"] == "auto"
        )
        assert (
            float(raw.headers["x-satisfice-baseline-cost-usd"])
            > float(raw.headers["x-satisfice-cost-usd"])
            > 0
        )
        stream = c.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hey"}], stream=True
        )
        chunks = list(stream)
        for ch in chunks:
            validate("CreateChatCompletionStreamResponse", ch.model_dump(exclude_unset=True))
        text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        assert text.startswith("[simulated answer from gpt-4o]")
        prefixed = c.chat.completions.create(  # the README's example name works before any key is set
            model="anthropic/claude-3-5-haiku", messages=[{"role": "user", "content": "hey"}]
        )
        assert prefixed.model == "claude-3-5-haiku"
        gw.rows(3)
    assert "SIMULATED PROVIDER" in gw.output
    report = run("report", "--ledger", gw.ledger, "--json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert data["requests"] == 3 and data["ok"] == 3
    assert data["baseline_cost_usd"] > data["cost_usd"] > 0 and data["savings_pct"] > 0
    assert {m["model"] for m in data["models"]} == {
        "gpt-4o",
        "claude-3-5-haiku",
        raw.headers["x-satisfice-model"],
    }
    table = run("report", "--ledger", gw.ledger, cwd=tmp_path)
    assert "savings" in table.stdout and "blended price" in table.stdout and "gpt-4o" in table.stdout


def test_check_names_the_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes:\n  auto:\n    strategy: clever\n    candidates: [gpt-4o-mini]\n")
    out = run("check", "--config", str(bad), cwd=tmp_path)
    assert out.returncode == 2 and "routes.auto.strategy" in out.stderr
    bad.write_text(
        "models:\n  - {id: mine, provider: openai, input_per_mtok: -1, output_per_mtok: 1, "
        "context_window: 10}\n"
    )
    out = run("check", "--config", str(bad), cwd=tmp_path)
    assert out.returncode == 2 and "input_per_mtok" in out.stderr
    good = tmp_path / "good.yaml"
    good.write_text(
        "providers:\n  - {name: openai, api_key: '${K}'}\nroutes:\n  r: {candidates: [gpt-4o-mini]}\n"
    )
    out = run("check", "--config", str(good), cwd=tmp_path, env={"K": "sk-very-secret"})
    assert out.returncode == 0, out.stderr
    assert "sk-very-secret" not in out.stdout + out.stderr and "key from K" in out.stdout
    # A catalog entry no configured provider serves is said so (it vanished silently).
    unserved = tmp_path / "unserved.yaml"
    unserved.write_text(
        "providers:\n  - {name: openai, api_key: '${K}'}\nmodels:\n  - {id: mine, provider: local-vllm, "
        "input_per_mtok: 1, output_per_mtok: 1, context_window: 8192}\n"
    )
    out = run("check", "--config", str(unserved), cwd=tmp_path, env={"K": "k"})
    assert out.returncode == 0, out.stderr
    assert "models[0]: 'local-vllm/mine' is served by no configured provider" in out.stdout


def test_check_names_a_model_map_key_never_used_and_a_header_whose_variable_is_unset(tmp_path: Path) -> None:
    """Both were silent: a model_map key written as an alias (or a typo) maps nothing, and a
    header whose ${VAR} is unset went out empty (it is now not sent)."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "providers:\n  - name: openai\n    api_key: '${K}'\n"
        "    headers: {openai-organization: '${ORG}', x-team: '${TEAM}'}\n"
        "    model_map: {gpt-4o-mini: my-mini, gpt-4o-2024-08-06: my-4o}\n"
    )
    out = run("check", "--config", str(config), cwd=tmp_path, env={"K": "k", "TEAM": "blue"})
    assert out.returncode == 0, out.stderr
    assert "header 'openai-organization' is not sent" in out.stdout and "x-team" not in out.stdout
    assert "model_map key 'gpt-4o-2024-08-06' is never used" in out.stdout
    assert "'gpt-4o-mini' is never used" not in out.stdout
    from satisfice.config import parse_settings

    settings = parse_settings(
        {"providers": [{"name": "openai", "api_key": "k", "headers": {"a": "${ORG}", "b": "${TEAM}"}}]},
        {"TEAM": "blue"},
    )
    assert settings.providers[0].headers == (("b", "blue"),)


def test_a_store_file_that_cannot_serve_is_named_by_check_and_stops_serve(tmp_path: Path) -> None:
    garbage = tmp_path / "learn.db"
    garbage.write_text("not a database")
    config = tmp_path / "c.yaml"
    config.write_text(f"learning: {{path: '{garbage}'}}\nledger: {{path: '{tmp_path / 'ledger.db'}'}}\n")
    out = run("check", "--config", str(config), cwd=tmp_path)
    assert (
        out.returncode == 0 and f"warning: learning.path: '{garbage}': file is not a database" in out.stdout
    )
    out = run("serve", "--config", str(config), "--port", "0", cwd=tmp_path)
    assert out.returncode == 2 and "config error: learning.path: cannot use" in out.stderr
    assert "Traceback" not in out.stderr


def test_models_lists_what_is_servable(tmp_path: Path) -> None:
    out = run("models", "--json", cwd=tmp_path, env={"ANTHROPIC_API_KEY": "x"})
    rows = json.loads(out.stdout)
    providers = {r["provider"] for r in rows if r["kind"] != "route"}
    assert providers == {"anthropic"}
    assert any(r["id"] == "claude-instant-1.2" for r in rows)
    assert any(r["id"] == "auto" and r["kind"] == "route" for r in rows)


def test_report_without_a_ledger_is_a_clear_error(tmp_path: Path) -> None:
    out = run("report", "--ledger", str(tmp_path / "none.db"), cwd=tmp_path)
    assert out.returncode == 1 and "no ledger" in out.stderr


def test_a_reader_that_leaves_early_ends_any_command_quietly(tmp_path: Path) -> None:
    """`satisfice report --gate ... | head -1` printed a BrokenPipeError traceback. (Output larger
    than a pipe's buffer: MMLU in the canonical format, megabytes.)"""
    clean = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "satisfice", "data", "convert", "--dataset", "mmlu", "--out", "-"],
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does once it has its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and err == ""


def test_report_gate_limit_must_be_positive(tmp_path: Path) -> None:
    out = run("report", "--gate", "--limit", "0", cwd=tmp_path)
    assert out.returncode == 2 and "--limit: must be at least 1, got 0" in out.stderr


@pytest.mark.parametrize("env", [{"OPENAI_BASE_URL": "UPSTREAM", "OPENAI_API_KEY": "sk-env"}])
def test_environment_only_mode_serves_the_endpoints_models(
    tmp_path: Path, env: dict[str, str], upstream: object
) -> None:
    from tests.fakes.upstream import FakeUpstream

    assert isinstance(upstream, FakeUpstream)
    env = {k: (upstream.openai_base if v == "UPSTREAM" else v) for k, v in env.items()}
    with GatewayProcess(tmp_path, None, env=env) as gw:
        c = openai.OpenAI(base_url=gw.base_url, api_key="client", max_retries=0)
        resp = c.chat.completions.create(model="mock-gpt", messages=[{"role": "user", "content": "yo"}])
        assert resp.choices[0].message.content == "echo: yo"
        assert "mock-gpt" in {m.id for m in c.models.list().data}
    sent = [r for r in upstream.requests() if r["model"] == "mock-gpt"][-1]
    assert sent["headers"]["authorization"] == "Bearer sk-env"


def test_the_log_level_is_read_in_any_case_and_a_bad_one_is_said(tmp_path: Path) -> None:
    """SATISFICE_LOG_LEVEL=info crashed every command (ValueError: Unknown level)."""
    out = run("models", "--json", cwd=tmp_path, env={"SATISFICE_LOG_LEVEL": "info"})
    assert out.returncode == 0 and "Traceback" not in out.stderr
    out = run("models", "--json", cwd=tmp_path, env={"SATISFICE_LOG_LEVEL": "chatty"})
    assert out.returncode == 0 and "SATISFICE_LOG_LEVEL='CHATTY' is not a log level" in out.stderr


def test_the_readme_cache_example_tunes_the_implied_auto_route(tmp_path: Path) -> None:
    """The README's cache block, pasted as is: a route `auto` with no candidates keeps every servable
    model and takes the route's semantic cache policy."""
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in readme.split("```yaml\n")[1:] if "a route overrides any of the policy keys" in b)
    config = tmp_path / "cache.yaml"
    config.write_text(block.split("```")[0])
    out = run("check", "--config", str(config), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with GatewayProcess(tmp_path, None, args=("--config", str(config))) as gw:
        c = openai.OpenAI(base_url=gw.base_url, api_key="anything", max_retries=0)
        seen = []
        for text in ("What is the capital city of France?", "what's the capital city of france"):
            raw = c.chat.completions.with_raw_response.create(
                model="auto", temperature=0, messages=[{"role": "user", "content": text}]
            )
            seen.append((raw.headers["x-satisfice-route"], raw.headers["x-satisfice-cache"]))
        assert seen == [("auto", "miss"), ("auto", "hit-semantic")]
    assert "SIMULATED PROVIDER" in gw.output
