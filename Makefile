# leadstream: `make test` / `make run` set up .venv themselves on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON3 ?= python3
# Re-installed only when pyproject.toml changes.
STAMP := $(VENV)/.leadstream-installed

.PHONY: venv test lint run simulate-sample clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: venv
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy rules core models

run: venv
	$(PY) -m streaming.demo

simulate-sample: venv
	$(PY) app.py simulate --rules config/rules.yaml --interactions data/samples/interactions.jsonl --out out/sample

clean:
	rm -rf out/ build/ *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
