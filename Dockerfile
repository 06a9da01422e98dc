# syntax=docker/dockerfile:1
# connector image: the builder installs the lock (hash-checked) and the project into /opt/venv;
# the runtime stage copies that venv and runs as a non-root user. One image serves every process:
# the default command is the Procfile's web line; compose.yaml and docs/deploy.md run the worker
# (`connector worker`) and the migration (`connector db upgrade`) from the same image.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The lock alone first, so code changes reuse this layer.
COPY requirements.txt ./
RUN pip install --require-hashes -r requirements.txt
COPY pyproject.toml README.md ./
COPY connector ./connector
RUN pip install --no-deps . && pip check

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000 \
    CONNECTOR_CONFIG=/app/connector.yaml
RUN groupadd --system --gid 10001 connector \
    && useradd --system --uid 10001 --gid connector --create-home --home-dir /home/connector \
        --shell /usr/sbin/nologin connector \
    && mkdir -p /app/data \
    && chown connector:connector /app/data
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Mappings are read relative to the working directory (sources[].mapping: mappings/...).
COPY mappings ./mappings
COPY connector.example.yaml ./
USER 10001:10001
VOLUME ["/app/data"]
EXPOSE 8000
# Liveness of the web process (the slim image has no curl). Worker and migration containers
# switch it off (compose.yaml: healthcheck.disable; docker run --no-healthcheck).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
# The Procfile's web line, through a shell for $PORT; exec hands gunicorn the SIGTERM of a stop.
CMD ["sh", "-c", "exec gunicorn \"connector.web:create_app()\" --bind 0.0.0.0:$PORT --workers 2 --threads 4 --timeout 30"]
