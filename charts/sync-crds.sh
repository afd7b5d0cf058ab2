#!/usr/bin/env bash
# Copies the CRDs (one source of truth: the top-level crds/, generated from the TypeScript API by
# scripts/gen-crds.ts) into the chart's crds/ directory. charts/test/chart.test.ts fails when the copies are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
src=crds
dst=charts/lota-operator/crds
shopt -s nullglob
files=("$src"/*.yaml)
[ ${#files[@]} -gt 0 ] || { echo "no CRDs in $src/: run the API's CRD generator first" >&2; exit 1; }
mkdir -p "$dst"
rm -f "$dst"/*.yaml
cp "${files[@]}" "$dst"/
echo "copied ${#files[@]} CRD file(s) from $src/ to $dst/" >&2
