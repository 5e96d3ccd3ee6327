#!/usr/bin/env bash
# Re-resolve the core's lock files from pyproject.toml (run after changing a dependency range).
#
#   requirements/core-py3.12.txt, core-py3.13.txt: the newest versions the ranges admit;
#   requirements/core-py3.11.txt: the FLOOR of every range (uv's lowest-direct resolution), so the
#   3.11 smoke run in CI tests the oldest versions pyproject.toml claims to support.
# Extras dev, ray and gesture are included; the platform is Linux x86_64 (manylinux_2_28).
set -euo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-.venv/bin/uv}
common=(--quiet --extra dev --extra ray --extra gesture --python-platform x86_64-manylinux_2_28
        --no-header --annotation-style line)
for py in 3.12 3.13; do
  "$uv" pip compile pyproject.toml "${common[@]}" --python-version "$py" -o "requirements/core-py$py.txt"
done
# lowest-direct lowers only direct dependencies: norse's unpinned torchvision (transitive) would pull
# torch up to its newest, so torch's floor is held by a constraint equal to pyproject's floor.
floor=$(sed -n 's/.*"torch>=\([0-9.]*\),.*/\1/p' pyproject.toml)
"$uv" pip compile pyproject.toml "${common[@]}" --python-version 3.11 --resolution lowest-direct \
  --constraint <(echo "torch==$floor") -o requirements/core-py3.11.txt
echo "locked: $(ls requirements/core-py*.txt | tr '\n' ' ')"
