#!/usr/bin/env bash
# The GPU check, in one command, for a machine with a CUDA GPU where python3 already has torch
# (2.11 to 2.14, a CUDA build) and there may be no network:
#   1. builds the extension with the CUDA kernels (LINREG_EXT_CUDA=1) and the C++ app (CMake);
#   2. runs the CUDA tests (pytest -m cuda: kernels, half types, CPU agreement, CUDA graphs,
#      the C++ app on --device cuda, a CUDA .pt2 package exported and run from C++, and
#      linreg_serve --device cuda: the CPU server's text, and 16 clients x 100 requests);
#   3. runs the GPU benchmark (bench/bench.py --device cuda);
#   4. runs the sweep over D (bench/sweep_d_cuda.py: D = 1..1024, four dtypes; about a minute,
#      stopped between shapes at 90 s and killed at 240 s); its failure hides nothing above;
#   5. prints the benchmark's table and targets, then the sweep's targets, last.
# Output goes to $OUT (default bench/gpu-results): logs, results.md, results.json, throughput.png,
# and sweep/ (sweep.md, sweep.json, sweep.png). Exit status: the tests', else the sweep's.
#
#   bench/gpu_check.sh                 everything (about 8-9 minutes on an H100 machine)
#   bench/gpu_check.sh --build-only    steps 1 only: what a machine without a GPU can check
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${OUT:-bench/gpu-results}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
# Narrow: a fast build for the GPU present (its compute capability); with no GPU, the default list
# (tools/cuda_config.py), as setup.py and the Makefile would build.
if [[ -z "${TORCH_CUDA_ARCH_LIST:-}" ]]; then
  TORCH_CUDA_ARCH_LIST="$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())' \
    2>/dev/null || python3 tools/cuda_config.py archs)"
fi
export TORCH_CUDA_ARCH_LIST
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
export LINREG_EXT_CUDA=1
export PYTHONUNBUFFERED=1

step() { echo; echo "== $*"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null ||
  echo "nvidia-smi: not available"
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda,
      'GPU:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'none')"

step "build the extension (TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST)"
"$PY" -m pip install --no-build-isolation --no-deps -e . > "$OUT/build.log" 2>&1 ||
  { tail -40 "$OUT/build.log"; exit 1; }
"$PY" -m linreg_ext info

step "build the C++ app"
make cpp USE_SYSTEM_PYTHON=1 PY="$PY" > "$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
echo "build/cmake/linreg_predict: built"

if [[ "${1:-}" == "--build-only" ]]; then
  echo; echo "--build-only: builds done; tests and benchmark not run"
  exit 0
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "no CUDA device: the builds are done, the tests and the benchmark need a GPU" >&2
  exit 2
fi

step "CUDA tests (pytest -m cuda)"
set +e
LINREG_PREDICT="$PWD/build/cmake/linreg_predict" LINREG_SERVE="$PWD/build/cmake/linreg_serve" \
  "$PY" -m pytest -m cuda -q -rs -p no:cacheprovider tests 2>&1 | tee "$OUT/tests.log" | tail -25
tests_rc=${PIPESTATUS[0]}
set -e

step "GPU benchmark"
"$PY" bench/bench.py --device cuda --out "$OUT" 2>&1 | tee "$OUT/bench.log" | grep -v "^\[" | tail -30

step "CUDA sweep over D (bench/sweep_d_cuda.py)"
set +e
timeout 240 "$PY" bench/sweep_d_cuda.py --out "$OUT/sweep" 2>&1 | tee "$OUT/sweep.log" |
  grep -E "^(correctness gate|stopped|wrote|error|Traceback|AssertionError)"
sweep_rc=${PIPESTATUS[0]}
set -e

step "results ($OUT/results.md)"
sed -n '/^### linear_mse_grad/,/^### linear_forward/p' "$OUT/results.md" | head -n -1
grep -E "^\[(met|NOT MET)\]" "$OUT/bench.log"

step "sweep targets ($OUT/sweep/sweep.md)"
if [[ $sweep_rc == 0 ]]; then
  awk '/^Targets/ { on = 1 } on && n++ < 40' "$OUT/sweep/sweep.md"  # every miss: in sweep.md
else
  tail -15 "$OUT/sweep.log"
  [[ -f "$OUT/sweep/sweep.partial.json" ]] &&
    echo "the shapes finished before it stopped: $OUT/sweep/sweep.partial.json"
fi
echo
echo "CUDA tests: $([[ $tests_rc == 0 ]] && echo passed || echo "FAILED (exit $tests_rc)")"
echo "CUDA sweep: $([[ $sweep_rc == 0 ]] && echo done ||
  echo "FAILED (exit $sweep_rc$([[ $sweep_rc == 124 ]] && echo ": killed at 240 s"))")"
exit $((tests_rc != 0 ? tests_rc : sweep_rc))
