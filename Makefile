# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 8000
LOCK := $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --quiet

.PHONY: run test test-slow install install-test migrate seed lint format lock graph bench bench-smoke clean messages

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=python3"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The runtime: the locked versions of the [project] dependencies, then the project itself.
$(RUNTIME_STAMP): requirements/runtime.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements/runtime.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# The test tools on top (pytest, hypothesis, ruff, playwright, localstripe, ...), at their locked versions.
$(TEST_STAMP): requirements/test.txt $(RUNTIME_STAMP)
	$(BIN)/pip install --quiet -r requirements/test.txt
	touch $@

# The translation catalogues (locale/*/LC_MESSAGES/django.po) compiled to .mo with Babel: no GNU gettext needed.
install: $(RUNTIME_STAMP)
	$(BIN)/python manage.py compile_catalogs

install-test: $(TEST_STAMP)
	$(BIN)/python manage.py compile_catalogs

migrate: install
	@mkdir -p var
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# `make test` leaves out the tests marked slow (the state machines' larger random runs); .ci/run includes them with
# PYTEST_MARKERS="slow or not slow", and `make test-slow` runs them alone.
PYTEST_MARKERS ?= not slow
# The suite runs on every CPU (pytest-xdist; PYTEST_WORKERS=0 runs it in one process). Each worker has a test
# database of its own; tests go to the workers in pytest-django's order, one by one (tests/conftest.py).
PYTEST_WORKERS ?= auto
PYTEST_XDIST = -n $(PYTEST_WORKERS) --dist load --maxschedchunk 1

test: install-test
	@mkdir -p var
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_XDIST) -m "$(PYTEST_MARKERS)" $(PYTEST_ARGS)

test-slow: install-test
	@mkdir -p var
	$(BIN)/pytest $(PYTEST_XDIST) -m slow $(PYTEST_ARGS)

# The benchmarks (bench/README.md): every script, then one table of their ratios; `make bench BENCH_ARGS=--write`
# also puts the table into bench/README.md. `make bench-smoke` runs each at a tiny size (.ci/run does).
bench: install-test
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

bench-smoke: install-test
	$(BIN)/python bench/run_all.py --smoke

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Draw the state machines in README.md again from the models' transitions, as Mermaid (tests/test_state_diagrams.py
# fails when the drawing is stale). `manage.py graph_transitions` prints them as Graphviz DOT.
graph: install
	$(BIN)/python manage.py state_diagrams --write README.md

# Resolve the lock files anew from pyproject.toml's ranges (after changing a dependency); commit both.
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv
	$(LOCK) -o requirements/runtime.txt
	$(LOCK) --extra test -c requirements/runtime.txt -o requirements/test.txt

# The catalogues anew from the code and templates (needs GNU gettext's xgettext): translate what is new in
# locale/fr and locale/de, then `make install` compiles them.
messages: install
	$(BIN)/python manage.py makemessages -l fr -l de --no-obsolete --no-location \
		--ignore=tests --ignore=bench --ignore=staticfiles --ignore=var --ignore=.venv

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
