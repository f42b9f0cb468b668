# Two commands work on a fresh clone: `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test check lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)  ## set up and run the gateway on 127.0.0.1:8080
	$(BIN)/satisfice serve $(if $(CONFIG),--config $(CONFIG))

test: $(STAMP)  ## set up and run the whole gate: ruff, mypy --strict, pytest (installs redis-server if missing)
	bash scripts/ensure_redis.sh
	$(BIN)/ruff check satisfice tests
	$(BIN)/mypy
	$(BIN)/pytest

check: test

bench: $(STAMP)  ## gateway overhead vs the floor proxy and peers (needs ../shared/bench set up)
	bash scripts/ensure_redis.sh
	$(BIN)/python scripts/bench_gateway.py --routed --rate-limit --cache-hits --peer floor --peer portkey --peer litellm --repeats 2

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
