# Two commands for a newcomer: `make demo` (set up + run the main job), `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_USER ?= 12348
DEMO_ITEM ?= 22423

.PHONY: setup demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(BIN)/.installed  ## create .venv and install shopsense with its dev tools

demo: setup  ## load the bundled sample, check it, compare models, train one, recommend
	$(BIN)/shopsense data load sample
	$(BIN)/shopsense data stats
	$(BIN)/shopsense evaluate --model popular --model itemknn --model ease --model als --k 10
	$(BIN)/shopsense train --model ease
	$(BIN)/shopsense recommend $(DEMO_USER) --k 10
	$(BIN)/shopsense similar $(DEMO_ITEM) --k 5

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts

test: lint  ## lint, then the whole test suite
	$(BIN)/python -m pytest -q

bench: setup  ## every benchmark (long: ~30 + ~60 + ~5 + ~20 + ~5 + ~10 + ~20 + ~30 min on 2 cores)
	$(BIN)/python benchmarks/recommend_classic.py
	$(BIN)/python benchmarks/recommend_deep.py
	$(BIN)/python benchmarks/ann.py --threads 2
	$(BIN)/python benchmarks/serve_load.py --sweep
	$(BIN)/python benchmarks/behaviour.py
	$(BIN)/python benchmarks/pricing.py
	$(BIN)/python benchmarks/images.py --threads 2
	$(BIN)/python benchmarks/reviews.py --threads 1

clean:
	rm -rf shopsense.duckdb shopsense.duckdb.wal models reports
