#!/usr/bin/env bash
# A small venv holding boto3 (the reference client of bench/staging.ts), cached under ${LOTA_CACHE:-~/.cache/lota}.
# Kept apart from the test venv (python/requirements.txt) so that the tests' venv does not change for a benchmark.
# Prints its python on stdout.
set -euo pipefail
version=1.44.5
venv="${LOTA_CACHE:-$HOME/.cache/lota}/venv-boto3-$version"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "boto3==$version" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
