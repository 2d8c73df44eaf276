# make demo: fix the bundled example module and print the diff.
# make test: lint and run the whole test suite with the real Go toolchain.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format bench clean

$(BIN)/gofix-conc: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/gofix-conc
	@echo '$$ gofix-conc scan fixtures/showcase'
	@cd fixtures/showcase && ../../$(BIN)/gofix-conc scan . || true  # exit 1: findings
	@echo
	@echo '$$ gofix-conc fix --diff fixtures/showcase'
	@cd fixtures/showcase && ../../$(BIN)/gofix-conc fix --diff . || true  # exit 1: a diff

lint: $(BIN)/gofix-conc
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -n auto --dist loadfile -q

format: $(BIN)/gofix-conc
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(BIN)/gofix-conc
	$(BIN)/pip install --quiet ast-grep-cli  # the tool to beat, timed on the same files
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/scan_stdlib.py --ast-grep
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/cpu_ratio.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/cpu_ratio.py --select ALL

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
