#!/usr/bin/env bash
# Makes sure Prometheus and promtool (Debian package `prometheus`) are installed; prints the directory holding
# them on the last line of stdout. Idempotent: with both on PATH it returns at once.
set -euo pipefail
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "prometheus/promtool are missing and installing them needs root: apt-get install prometheus" >&2
    exit 1
  fi
  echo "installing the Debian package prometheus" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
  # The package starts a system service; the tests run their own instance on a free port.
  (systemctl disable --now prometheus >/dev/null 2>&1 || service prometheus stop >/dev/null 2>&1 || true)
fi
dirname "$(command -v prometheus)"
