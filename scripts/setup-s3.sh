#!/usr/bin/env bash
# Builds versitygw (Apache-2.0), a real S3-compatible server that serves a local directory (`versitygw posix DIR`),
# from the Go module proxy into ${LOTA_CACHE:-~/.cache/lota}/versitygw-<version>/bin; the storage tests and
# bench/staging.ts run it. A second run finds the binary and returns at once. Prints its path on stdout.
set -euo pipefail
version=v1.8.0
dir="${LOTA_CACHE:-$HOME/.cache/lota}/versitygw-$version"
bin="$dir/bin/versitygw"
if [ ! -x "$bin" ]; then
  echo "setup-s3: building versitygw $version (about 2 minutes)" >&2
  mkdir -p "$dir"
  GOBIN="$dir/bin.tmp" CGO_ENABLED=0 go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
  rm -rf "$dir/bin"
  mv "$dir/bin.tmp" "$dir/bin"
fi
echo "$bin"
