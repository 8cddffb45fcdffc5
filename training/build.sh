#!/usr/bin/env bash
# Rebuild the bundled model from nothing: generate data, train (resuming from the committed
# checkpoint when there is one), export to ONNX, quantize, and write public/models/memlab-organism
# with its universal mask preset (npm run model:presets).
#   npm run model:build                 # train to the shipped step count (6005), export, verify
#   STEPS=12000 npm run model:build     # train further
#   EXPORT_ONLY=1 npm run model:build   # export the committed checkpoint as it is
#   UNLEARN=1 npm run model:build       # also make the unlearned variants + UniForget mask presets
#                                       # (FORGET=zephyr,obsidian,marigold,tundra by default)
#   COPY_DETECTOR=1 npm run model:build # retrain the copy-detection embedding (else the committed
#                                       # checkpoints/copy-detector.pt is exported)
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: npm run model:build       (settings are environment variables: EXPORT_ONLY=1 npm run model:build)
  STEPS=6005          train to this step count, resuming from training/checkpoints/resume.pt
  EXPORT_ONLY=1       export the committed checkpoint as it is, without training
  UNLEARN=1           also make the unlearned variants and the UniForget mask presets
  FORGET=zephyr,...   the artworks the variants forget (default zephyr,obsidian,marigold,tundra)
  COPY_DETECTOR=1     retrain the copy-detection embedding (else checkpoints/copy-detector.pt is exported)
  THREADS=2           CPU threads for torch
USAGE
}
for arg in "$@"; do
  if [[ $arg == -h || $arg == --help ]]; then usage; exit 0; fi
done
if (($#)); then echo "error: Unknown option '$1'" >&2; usage >&2; exit 2; fi
cd "$(dirname "$0")"

# Debian's python3 sees apt's torch/onnx (a pyenv python3 earlier on PATH would not).
PY=/usr/bin/python3
need=()
$PY -c "import torch" 2>/dev/null || need+=(python3-torch)
$PY -c "import onnx" 2>/dev/null || need+=(python3-onnx)
$PY -c "import numpy" 2>/dev/null || need+=(python3-numpy)
# Debian's torch uses the reference BLAS unless OpenBLAS is installed (about 30x slower).
dpkg -s libopenblas0-openmp >/dev/null 2>&1 || need+=(libopenblas0-openmp)
if ((${#need[@]})); then
  echo "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# OpenBLAS picks its kernels by CPU (AVX-512 ones here), and their float rounding reaches
# reference.json (the torch outputs the tests compare the ONNX files with) at about 1e-7. The
# AVX2 (Haswell) kernels run on any x86-64 with AVX2 and reproduce the committed files exactly.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
  export OPENBLAS_CORETYPE=Haswell
fi

if [ -z "${EXPORT_ONLY:-}" ]; then
  $PY -m memlab.train --steps "${STEPS:-6005}" --threads "${THREADS:-2}"
fi
$PY -m memlab.export --out ../public/models/memlab-organism
$PY -m memlab.export --fixture --out ../public/models/fixture-random
if [ -n "${UNLEARN:-}" ]; then
  $PY -m memlab.unlearn --base checkpoints/resume.pt --forget "${FORGET:-zephyr,obsidian,marigold,tundra}" \
    --out ../public/models --threads "${THREADS:-2}" --index \
    --report ../public/models/memlab-organism/unlearning-report.json
fi
# The copy detector: trained once (checkpoints/copy-detector.pt, about 6 minutes on 2 cores),
# exported beside the model and listed in the base's and every variant's manifest (after the
# variants are written, which rewrites their manifests).
if [ -n "${COPY_DETECTOR:-}" ] || [ ! -f checkpoints/copy-detector.pt ]; then
  $PY -m memlab.copy_detector train --threads "${THREADS:-2}"
fi
$PY -m memlab.copy_detector export --models ../public/models
echo "model written to public/models/memlab-organism; verifying"
cd .. && npm run --silent model:verify
# The universal mask the lab ships as "Memorization removed" (the claims tests' settings): made
# again only when the export did not keep it (a new model version).
npm run --silent model:presets -- --if-missing
