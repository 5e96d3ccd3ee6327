#!/usr/bin/env bash
# Create (or bring up to date) a core environment of nrf-deploy from its lock file.
#
#   scripts/bootstrap.sh [VENV] [PYTHON_MINOR]      e.g. scripts/bootstrap.sh .venv-3.13 3.13
#
# PYTHON_MINOR defaults to the one in .python-version (3.12). The environment gets exactly the
# packages pinned in requirements/core-pyX.Y.txt (uv pip sync: nothing more, nothing less), then
# nrf-deploy itself in editable mode. The vendor tools are not installed here: they live in
# witness environments of their own (`nrf-deploy witnesses install all`, docs/witnesses.md).
set -euo pipefail
venv="${1:-.venv}"
want="${2:-$(cut -d. -f1,2 < .python-version)}"
lock="requirements/core-py${want}.txt"
[ -f "$lock" ] || { echo "error: no lock file $lock (supported: $(ls requirements | sed -n 's/^core-py\(.*\)\.txt$/\1/p' | tr '\n' ' '))" >&2; exit 2; }

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }

find_python() {
  local cand
  # pyenv's newest patch release first (its shims may point elsewhere), then PATH
  for cand in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}/versions/$want".* 2>/dev/null | sort -V -r); do
    if [ "$(version_of "$cand/bin/python$want")" = "$want" ]; then echo "$cand/bin/python$want"; return 0; fi
  done
  for cand in "python$want" python3; do
    if command -v "$cand" >/dev/null 2>&1 && [ "$(version_of "$cand")" = "$want" ]; then
      command -v "$cand"; return 0
    fi
  done
  return 1
}

if [ ! -x "$venv/bin/python" ] || [ "$(version_of "$venv/bin/python")" != "$want" ]; then
  py=$(find_python) || { echo "error: Python $want not found. Install it (e.g. 'pyenv install $want') and re-run." >&2; exit 2; }
  echo "bootstrap: creating $venv with $py"
  rm -rf "$venv"
  "$py" -m venv "$venv"
fi

# uv (pinned in the lock too) makes the install fast and exact; pip only fetches it the first time.
uv_pin=$(sed -n 's/^uv==\([^ ]*\).*/\1/p' "$lock")
if [ -x "$venv/bin/uv" ]; then
  [ "$("$venv/bin/uv" --version | cut -d' ' -f2)" = "$uv_pin" ] \
    || "$venv/bin/uv" pip install -q --python "$venv/bin/python" "uv==$uv_pin"
else
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "uv==$uv_pin"
fi
echo "bootstrap: installing $lock into $venv (the first time downloads torch's CUDA build, several GB)"
export UV_PYTHON_DOWNLOADS=never
"$venv/bin/uv" pip sync -q --python "$venv/bin/python" "$lock"
"$venv/bin/uv" pip install -q --python "$venv/bin/python" --no-deps -e .

# xylosim (the Xylo witness) builds from source on Python >= 3.11: it needs a C++ compiler.
if ! command -v g++ >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: installing Debian's g++ (the xylosim witness builds from source)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++) >/dev/null 2>&1 \
    || echo "bootstrap: could not install g++ (nrf-deploy witnesses install xylosim will say so)"
fi

# The HTML report test renders in headless Chromium (Debian's package). Install it when missing and
# allowed (root with apt); otherwise that one test reports what is missing.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "bootstrap: installing Debian's chromium for the report test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "bootstrap: could not install chromium (the HTML render test will fail until it is installed)"
fi
