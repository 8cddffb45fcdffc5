#!/usr/bin/env bash
# Installs what the lab and its tests need, only when it is missing:
#   node_modules (npm ci; onnxruntime-node's CUDA download is skipped, its CPU binary ships in the package)
#   Debian's chromium for the e2e tests (only with --browser).
# Sourced or run from the repository root.
set -euo pipefail

need_npm=0
if [[ ! -d node_modules ]]; then
  need_npm=1
elif [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  need_npm=1
fi
if [[ $need_npm == 1 ]]; then
  echo "==> installing node modules (npm ci)"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
fi

if [[ "${1:-}" == "--browser" ]] && [[ ! -x /usr/bin/chromium && ! -x /usr/lib/chromium/chromium ]]; then
  echo "==> installing chromium (apt)"
  if [[ $(id -u) == 0 ]]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core
fi
