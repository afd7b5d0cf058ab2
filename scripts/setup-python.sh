#!/usr/bin/env bash
# Creates (once) the Python venv holding the reference implementations (transformers, torch, mergekit) that the
# parity tests compare against. Cached outside the repo, keyed by the requirements file's hash. Prints the
# venv's python on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
req=python/requirements.txt
key=$(sha256sum "$req" | cut -c1-12)
cache="${LOTA_CACHE:-$HOME/.cache/lota}"
venv="$cache/venv-py-$key"
# One builder at a time: a second run waits here instead of deleting the first one's half-built venv.
mkdir -p "$cache"
exec 9>"$cache/venv-py.lock"
flock 9
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
