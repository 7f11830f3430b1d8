# leadstream worker image.
#   docker build -t leadstream .
#   docker run --rm -e BROKER_URL=kafka://kafka:9092 -p 6066:6066 leadstream            # worker
#   docker run --rm -v "$PWD/data/samples:/samples:ro" leadstream simulate \
#       --rules config/rules.yaml --interactions /samples/interactions.jsonl --out /tmp/out

# ---- build: install the project and its dependencies into a virtualenv ---------------------
FROM python:3.11.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Everything pip needs to build the project (see .dockerignore for what stays out).
COPY . .
# Runtime dependencies only (no embedded broker, no dev tools), at the versions of
# constraints.txt. The image always talks to a Kafka cluster (BROKER_URL).
RUN pip install --upgrade pip setuptools wheel \
    && pip install -c constraints.txt .

# ---- runtime ----------------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LEADSTREAM_HOME=/app \
    RULES_PATH=/app/config/rules.yaml \
    DATA_DIR=/var/lib/leadstream \
    WEB_PORT=6066 \
    WEB_BIND=0.0.0.0

RUN groupadd --system --gid 10001 leadstream \
    && useradd --system --uid 10001 --gid leadstream --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin leadstream \
    && mkdir -p /app /var/lib/leadstream \
    && chown leadstream:leadstream /var/lib/leadstream

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# The entry modules and the shipped rules config (the packages live in the virtualenv).
COPY app.py cli.py ./
COPY config/ ./config/

USER leadstream

# RocksDB state of the worker's tables; a named volume keeps it across restarts.
VOLUME ["/var/lib/leadstream"]

# /metrics, /healthz, /reports/lead-linking, /parties/{party_id}
EXPOSE 6066

HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:%s/healthz' % os.environ.get('WEB_PORT', '6066'); sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

ENTRYPOINT ["python", "app.py"]
CMD ["worker"]
