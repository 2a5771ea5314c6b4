# One entry point per job. `make install` then `make test`; `make harness-up` runs the stack.
SHELL := /bin/bash
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: lock install test test-fast lint bench images docs harness-up harness-down demo-improve clean

# Dependencies come from requirements.lock (exact versions with hashes: every validator scores with the same
# stack; `harness status` shows the scoring fingerprint), then the project itself without resolving anything.
$(BIN)/harness: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(BIN)/harness

install: $(BIN)/harness

# Every test, Docker and slow ones included (what CI runs). Exit 5 (nothing collected) fails too.
test: install
	@if $(BIN)/python -c "import docker; docker.from_env(timeout=5).ping()" >/dev/null 2>&1; then \
		$(BIN)/python -m harness.sandbox.images; \
	else echo "no Docker engine answers: Docker tests will be skipped (bash compose/ensure-docker.sh starts one)"; fi
	$(BIN)/pytest $(PYTEST_ARGS)

# Unit tests only: no Docker engine, no model run.
test-fast: install
	$(BIN)/pytest -m "not docker and not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Images: base + cpu engine + the supervisor (compose); sglang where a GPU is visible. Idempotent.
images: install
	$(BIN)/python -m harness.sandbox.images

# The validator stack on the local chain with demo miners (compose/docker-compose.yml). Idempotent; settings
# in the compose file's header. Data (models, state db, local chain, mirror, sandbox sockets): $(HARNESS_DATA).
HARNESS_DATA ?= $(CURDIR)/.harness-data
HARNESS_STATUS_PORT ?= 8780
HARNESS_BLOCK_PERIOD ?= 2
HARNESS_LOCAL_TEMPO ?= 30
COMPOSE := docker-compose -f compose/docker-compose.yml -p harness
# The demo curator's public development key (//Alice): the feed batches `harness demo seed` signs.
DEMO_CURATOR := 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY
HOST_ENV := HARNESS_CACHE_DIR=$(HARNESS_DATA) HARNESS_CHAIN__BLOCK_PERIOD_S=$(HARNESS_BLOCK_PERIOD) \
	HARNESS_SANDBOX__SOCKET_ROOT=$(HARNESS_DATA)/run HARNESS_CHAIN__LOCAL_TEMPO=$(HARNESS_LOCAL_TEMPO) \
	HARNESS_TASKS__FEED_URL=$(HARNESS_DATA)/feed HARNESS_TASKS__FEED_CURATOR=$(DEMO_CURATOR)
HARNESS_HOSTNAME ?= $(shell hostname)
export HARNESS_DATA HARNESS_STATUS_PORT HARNESS_BLOCK_PERIOD HARNESS_LOCAL_TEMPO HARNESS_HOSTNAME

harness-up:
	bash compose/ensure-docker.sh
	$(MAKE) install images
	mkdir -p $(HARNESS_DATA)
	$(HOST_ENV) $(BIN)/harness demo seed --only-ready
	$(COMPOSE) up -d
	$(BIN)/python compose/wait_health.py http://127.0.0.1:$(HARNESS_STATUS_PORT)/health 180 || \
		{ $(COMPOSE) logs --tail=50 supervisor; exit 1; }
	@# The VLM miners commit when the demo VLM is trained (~20 min on 2 cores the first time), in the background,
	@# after the first weights (at most 15 min of waiting): the first round (text-only and hostile miners) has the
	@# CPU to itself and sets weights within minutes. Where the VLM was trained, all six committed above already.
	$(HOST_ENV) setsid nohup sh -c '$(BIN)/python compose/wait_weights.py \
		http://127.0.0.1:$(HARNESS_STATUS_PORT)/status 900; nice -n 19 $(BIN)/harness demo seed' \
		> $(HARNESS_DATA)/demo-seed.log 2>&1 < /dev/null &
	@echo
	@echo "Validator stack is up (data: $(HARNESS_DATA))."
	@echo "  VLM miners: in the table above if the demo VLM was trained; otherwise committed when its training ends"
	@echo "              (log: $(HARNESS_DATA)/demo-seed.log)"
	@echo "  status:  $(HOST_ENV) $(BIN)/harness status   (or: harness chain show, report, ...)"
	@echo "           curl -s http://127.0.0.1:$(HARNESS_STATUS_PORT)/status"
	@echo "  logs:    HARNESS_DATA=$(HARNESS_DATA) HARNESS_HOSTNAME=$(HARNESS_HOSTNAME) $(COMPOSE) logs -f supervisor"
	@echo "  later:   make demo-improve   (a better VLM, committed after the first round, takes the lead)"
	@echo "  stop:    make harness-down"

# After the stack's first round: a later miner commits the demo VLM trained further (docs/scoring.md's story).
demo-improve: install
	$(HOST_ENV) $(BIN)/harness demo improve

harness-down:
	-$(COMPOSE) down --remove-orphans
	test ! -x $(BIN)/harness || $(HOST_ENV) $(BIN)/harness sandbox reap

# The configuration reference is generated from the settings model (tests/unit/harness/settings/test_config.py checks it is current).
docs: install
	$(BIN)/harness config --reference > docs/configuration.md

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

# Re-resolve requirements.lock after a change to pyproject.toml, keeping every pin it can; `make lock LOCK_ARGS=--upgrade` moves to the newest versions allowed (the upgrade path; see README), with
# hashes, for this machine's Python and platform. Then `make install test` and commit the lock with the result.
lock:
	$(PY) -m venv $(CURDIR)/.lock-tools && $(CURDIR)/.lock-tools/bin/pip install --quiet uv
	$(CURDIR)/.lock-tools/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11.7 --python-platform x86_64-manylinux_2_28 --find-links /opt/wheels \
		--index-strategy unsafe-best-match --no-header -o requirements.lock $(LOCK_ARGS)
