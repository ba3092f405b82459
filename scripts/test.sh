#!/usr/bin/env bash
# Run every test. With DATABASE_URL / REDIS_URL set, the same suite runs on PostgreSQL / Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export YOLO_OFFLINE=1 PYTHONDONTWRITEBYTECODE=1
exec .venv/bin/python -m pytest "$@"
