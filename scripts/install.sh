#!/usr/bin/env bash
# Install everything Danbing needs on a fresh Debian machine: system packages (Chromium for
# the browser tests, poppler for PDF checks, a CJK font) and the Python virtualenv.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The torch build pinned in requirements.txt lies on these machines' disk for Python 3.11.
PY=$(command -v python3.11 || command -v python3)
if [ ! -x .venv/bin/python ]; then
  echo "creating .venv with $PY"
  "$PY" -m venv .venv
fi
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
  echo "installing Python packages (first time: several minutes)"
  # (This machine's pip config names local package folders that may be missing: hide that noise.)
  quiet() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }
  quiet .venv/bin/pip install -q --upgrade pip
  quiet .venv/bin/pip install -q -r requirements.txt
  echo "$want" > .venv/.requirements.sha256
fi
