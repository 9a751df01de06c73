# Two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
DATA_DIR ?= ./var

CLIENT := clients/python
# The blocking client, generated from the async one (ignored by git; the client's build writes
# it into its wheel): written again whenever the async client or the generator changes.
SYNC_CLIENT := $(CLIENT)/src/cancelgate_client/_sync_client.py

.PHONY: run test lint setup lock clean bench bench-tools browser-tools screenshots

# The lock holds the dependencies of both; the client (clients/python, its own distribution)
# and then the server are installed editable over them.
$(BIN)/.installed: requirements.lock pyproject.toml $(CLIENT)/pyproject.toml $(CLIENT)/setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e $(CLIENT)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(SYNC_CLIENT): $(CLIENT)/src/cancelgate_client/_async_client.py $(CLIENT)/generate_sync.py | $(BIN)/.installed
	$(BIN)/python $(CLIENT)/generate_sync.py

setup: $(BIN)/.installed $(SYNC_CLIENT)

# serve migrates before it listens.
run: setup
	$(BIN)/cancelgate serve --demo --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

lint: setup
	$(BIN)/ruff check src tests bench $(CLIENT)
	$(BIN)/ruff format --check src tests bench $(CLIENT)
	$(BIN)/mypy

test: setup browser-tools lint
	$(BIN)/pytest

# Debian's chromium, which the browser tests (tests/browser) drive through Playwright; never a
# browser download (`playwright install` is not used).
browser-tools:
	@test -x /usr/bin/chromium || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; }

# The README's console screenshots, taken by the browser tests.
screenshots: setup browser-tools
	CANCELGATE_SCREENSHOTS=docs/console $(BIN)/pytest -q tests/browser

# wrk (the load generator) and taskset, from Debian, if they are missing.
bench-tools:
	@command -v wrk >/dev/null || { apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; }
	@command -v taskset >/dev/null || apt-get install -y util-linux

# Not part of `make test`: takes minutes and wants the machine to itself.
# The runner (and its end-to-end load generator) sits on the load CPU.
bench: setup bench-tools
	taskset -c 1 $(BIN)/python -m bench.run

# Regenerates the lock file from pyproject.toml (needs network access to PyPI). The client
# comes from clients/python ([tool.uv.sources]): its dependencies are locked, itself is not
# (it is not on PyPI; setup installs it from its folder).
lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11 \
		--no-emit-package cancelgate-client

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache $(SYNC_CLIENT)
