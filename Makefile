# Every target sets up .venv when it is missing, so a fresh clone needs only `make run` or `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test check lint bench bench-setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/decisions serve --host $(HOST) --port $(PORT)

check: setup
	$(BIN)/decisions check rulesets

test: setup
	$(BIN)/decisions check rulesets
	$(BIN)/decisions test rulesets
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check service tests bench

# The benchmarks also need the optional group `bench` (zen-engine, the peer engine); `make test`
# never installs it.
bench-setup: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: bench-setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
