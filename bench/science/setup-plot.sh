#!/usr/bin/env bash
# The plotting venv of `npm run science`: matplotlib only, pinned, cached under ~/.cache/lota. Prints its python.
# Separate from scripts/setup-python.sh's reference venv (torch, transformers, ...), which the plots do not need.
set -euo pipefail
MATPLOTLIB=3.10.7
VENV="${LOTA_CACHE:-$HOME/.cache/lota}/venv-science-plot-$MATPLOTLIB"
if ! "$VENV/bin/python" -c 'import matplotlib' >/dev/null 2>&1; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "matplotlib==$MATPLOTLIB" >&2
fi
echo "$VENV/bin/python"
