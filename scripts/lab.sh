#!/usr/bin/env bash
# `npm run lab`: install what is missing, build, and serve the lab on http://127.0.0.1:5173.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
echo "==> building"
npm run --silent build
echo
echo "Memorization Lab: http://127.0.0.1:5173/"
echo "(add ?backend=wasm or ?backend=webgpu to force a backend; Ctrl+C stops the server)"
echo
# exec node directly (not npx) so a signal to this script reaches the server itself.
exec node node_modules/vite/bin/vite.js preview --host 127.0.0.1 --port 5173 --strictPort
