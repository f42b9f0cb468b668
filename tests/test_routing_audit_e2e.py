"""Routing defects found by the session-14 audit, each reproduced through the real gateway."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml

from tests.conftest import cheap_model, standard_config
from tests.fakes.upstream import FakeUpstream
from tests.gateway_proc import ROOT, GatewayProcess


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = standard_config(upstream)
    seer = {**cheap_model("seer", 0.5), "input_per_mtok": 1.0, "capabilities": {"vision": True}}
    config["models"] = [cheap_model("cheapo", 0.5), seer]
    config["routes"] = {
        # A route of a model that does not chat: every chat request has no candidate.
        "embed-only": {"strategy": "auto", "router": "prior", "candidates": ["text-embedding-3-small"]},
        # quality=0: the cheapest candidate that can take the request answers.
        "pdf": {"strategy": "auto", "router": "prior", "knob": "quality=0", "candidates": ["cheapo", "seer"]},
        "no-vision": {"strategy": "auto", "router": "prior", "candidates": ["cheapo"]},
    }
    with GatewayProcess(tmp_path_factory.mktemp("gw-audit"), config, env={"FAKE_OPENAI_KEY": "k"}) as gw:
        yield gw


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0, timeout=30)


@pytest.mark.parametrize("logprobs", [None, True])
def test_a_route_with_no_chat_model_is_no_capable_candidate_not_a_context_error(
    gateway: GatewayProcess, logprobs: bool | None
) -> None:
    """The plain-request fast path (`_ChatCandidates`) called a route whose only candidate is an
    embedding model a context-window error (code context_length_exceeded, no param), where the
    per-candidate checks, which a logprobs request takes, say no_capable_candidate on `model`."""
    with pytest.raises(openai.BadRequestError) as e:
        client(gateway).chat.completions.create(
            model="embed-only", messages=[{"role": "user", "content": "hello"}], logprobs=logprobs
        )
    assert e.value.code == "no_capable_candidate"
    err = e.value.body
    assert isinstance(err, dict) and err.get("param") == "model"
    assert "an embedding model, which does not chat" in e.value.message


@pytest.mark.parametrize(
    "command", [["serve", "--port", "0"], ["route", "hello"], ["models"], ["serve", "--workers", "2"]]
)
def test_a_bad_models_entry_is_one_config_error_line_for_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    """`satisfice check` reported a `models:` entry the catalog refuses as a config error, while
    `serve`, `route` and `models` died with a CatalogError traceback."""
    config = tmp_path / "satisfice.yaml"
    entry = {
        "id": "m",
        "provider": "openai",
        "input_per_mtok": 1,
        "output_per_mtok": 2,
        "context_window": 1000,
    }
    config.write_text(yaml.safe_dump({"models": [{**entry, "json_schema": True}]}))
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")} | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "satisfice", *command, "--config", str(config)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "config error: models[0].json_schema: unknown key" in done.stderr


PDF = base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode()


def test_a_pdf_document_skips_the_candidates_that_take_no_images(gateway: GatewayProcess) -> None:
    """A PDF (a /v1/messages document, an OpenAI `file` part) is read as page images: OpenAI and
    Anthropic take one only on vision models. Routes checked image parts alone, so under a
    quality=0 knob a PDF went to the cheapest model, one that takes no images."""
    doc: Any = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF},
    }
    ant = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0, timeout=30)
    raw = ant.messages.with_raw_response.create(
        model="pdf",
        max_tokens=50,
        messages=[{"role": "user", "content": [doc, {"type": "text", "text": "Summarise it."}]}],
    )
    raw.parse()
    assert raw.headers["x-satisfice-model"] == "seer"
    assert "cheapo: no image input" in raw.headers["x-satisfice-reason"]
    part = {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}}
    message: Any = {"role": "user", "content": [part, {"type": "text", "text": "Summarise it."}]}
    with pytest.raises(openai.BadRequestError) as e:  # a route with no vision model: a clear 400
        client(gateway).chat.completions.create(model="no-vision", messages=[message])
    assert e.value.code == "no_capable_candidate"
