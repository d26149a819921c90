# syntax=docker/dockerfile:1

# Build stage: dependencies in their own layer (rebuilt only when requirements.lock changes), then the code.
# requirements.lock pins every package, the build backend too, to one version and its file hashes, so two
# builds of one commit install the same files and nothing unchecked is downloaded.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation --check-build-dependencies . \
    && /opt/venv/bin/pip check

# Run stage: no compilers, no pip cache, no secrets; a non-root user.
FROM python:3.11-slim
# /data holds the SQLite database of a single bot (replicas use PostgreSQL instead: DATABASE_URL).
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin incidentbot \
    && install -d -o 10001 -g incidentbot -m 0750 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATABASE_URL=sqlite:////data/incident-bot.db
VOLUME ["/data"]
USER 10001
EXPOSE 3000
# /healthz answers in both modes (in Socket Mode the HTTP listener serves only the health checks).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["incident-bot"]
