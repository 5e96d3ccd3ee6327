#!/usr/bin/env bash
# Create (or repair) the project's virtual environment with Python 3.10 and the pinned packages.
# lava-nc 0.10.0 only imports on Python 3.10, so no other interpreter is accepted.
set -euo pipefail
venv="${1:-.venv}"

find_python310() {
  for cand in python3.10 "$(command -v pyenv >/dev/null 2>&1 && PYENV_VERSION=3.10.13 pyenv which python 2>/dev/null)" python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  return 1
}

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then
  py=$(find_python310) || { echo "error: Python 3.10 not found (lava-nc 0.10.0 needs it). Install it, e.g. 'pyenv install 3.10.13', then re-run." >&2; exit 2; }
  echo "bootstrap: creating $venv with $py"
  rm -rf "$venv"
  "$py" -m venv "$venv"
fi
echo "bootstrap: installing nrf-deploy and its pinned dependencies into $venv (the first time downloads torch, ~4.7 GB)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip<25" 2>/dev/null || true
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev,ray,witness,gesture]"
"$venv/bin/python" -m pip check

# The HTML report test renders in headless Chromium (Debian's package). Install it when missing and
# allowed (root with apt); otherwise that one test reports what is missing.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: installing Debian's chromium for the report test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "bootstrap: could not install chromium (the HTML render test will fail until it is installed)"
fi
