# Every target sets up .venv when it is missing, so a fresh clone needs only `make run` or `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
HOST ?= 127.0.0.1
PORT ?= 8000
# Translation catalogues: the .mo files are built here (never committed; see .gitignore).
PO := $(wildcard service/translations/*/LC_MESSAGES/*.po)
MO := $(PO:.po=.mo)

.PHONY: setup run test test-fast check lint screenshots bench bench-setup clean messages

setup: $(STAMP) $(MO)

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# `pybabel compile`: the pages (Flask-Babel) read the compiled catalogues.
%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@

# After changing a page text: extract every text of the pages and add the new ones to each
# language's `pages` catalogue (then translate them; tests/pages fail on a missing translation).
messages: setup
	mkdir -p var
	$(BIN)/pybabel extract -F babel.cfg --no-location --omit-header -o var/pages.pot .
	$(BIN)/pybabel update -D pages -i var/pages.pot -d service/translations \
		--no-fuzzy-matching

run: setup
	$(BIN)/decisions serve --host $(HOST) --port $(PORT)

check: setup
	$(BIN)/decisions check rulesets

test: setup
	$(BIN)/decisions check rulesets
	$(BIN)/decisions test rulesets
	$(BIN)/python -m pytest -q

# The inner loop: everything but the slow tests (stress, fuzz, browser, a real gunicorn).
test-fast: setup
	$(BIN)/python -m pytest -q -x -m "not slow" --ignore=tests/browser \
		--deselect tests/http_api/test_serve.py

# ruff, and the dependency rules between the stages of service/ (import-linter contracts in
# pyproject.toml; tests/test_layout.py runs them too).
lint: setup
	$(BIN)/ruff check service tests bench
	$(BIN)/lint-imports

# Refresh the README's screenshots from the browser tests (a plain test run writes them to a
# temporary folder and never changes committed files).
screenshots: setup
	DECISIONS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -q tests/browser

# The benchmarks also need the optional group `bench` (zen-engine, the peer engine); `make test`
# never installs it.
bench-setup: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: bench-setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis $(MO)
