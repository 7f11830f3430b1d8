# leadstream: `make test` / `make run` set up .venv themselves on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON3 ?= python3
# Re-installed only when pyproject.toml changes.
STAMP := $(VENV)/.leadstream-installed

.PHONY: venv tools test lint run simulate-sample clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# promtool (Debian package `prometheus`) lints /metrics in the ops tests.
tools:
	@command -v promtool >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing promtool (Debian package prometheus)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null) \
	      || echo "could not install promtool: the metrics lint test will fail"; \
	  else echo "promtool missing: install Debian's prometheus package (the metrics lint test needs it)"; fi; }

test: venv tools
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
