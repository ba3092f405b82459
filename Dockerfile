# syntax=docker/dockerfile:1
# Multi-stage: build the virtualenv in one stage, copy it into a slim runtime that runs as
# a non-root user. The same image runs the API (gunicorn, the default) and the RQ worker:
#   docker run IMAGE                       -> API on :8000
#   docker run IMAGE flask --app wsgi worker -> RQ worker
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-zenhei libgl1 libglib2.0-0 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 danbing
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=danbing:danbing . /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 DANBING_INSTANCE_DIR=/app/instance
USER danbing
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "wsgi:app"]
