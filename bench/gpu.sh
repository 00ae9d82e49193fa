#!/usr/bin/env bash
# Every GPU check and timing of the speed work, in one go (under 5 minutes on one H200), then one table.
#
#   bash bench/gpu.sh                 # on a machine with a CUDA GPU
#   bash bench/gpu.sh                 # without one: a dry run that says what it would measure
#   bash bench/gpu.sh --smoke         # the same steps on the CPU, tiny sizes: checks the plumbing
#
# Steps (each under its own time limit; one that fails or runs out shows "not measured"):
#   1. training-step samples/s of the paper spec at batch 24 and 96: fp32 eager, tf32 +
#      channels-last, bf16 + channels-last, and the fast path (bf16 + channels-last +
#      torch.compile + CUDA graphs)                                       bench/fastpath.py
#   2. the tests that matter on a GPU: bf16 vs fp32 ELBO, the device lr, the compile fallback
#                                                                          tests/runner/train/test_fastpath.py
#   3. archspec.build against the hand-written CVAE, fast path on both, batch 24
#                                                                          bench/overhead.py --part model
#   4. runner train end to end, 12,000 samples at batch 24, data, logging, evaluation and the
#      closing checkpoint included                                         bench/e2e.py
#   5. the runner's step against the bare step at the paper's evaluation cadence (24 test
#      samples every 72), batch 24                                          bench/overhead.py --part runner
# Compiled kernels are cached in $ARCHSPEC_CACHE/inductor: a second run compiles far less.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT=${OUT:-$(mktemp -d -t archspec-gpu-XXXXXX)}
mkdir -p "$OUT"

SMOKE=0
[[ ${1:-} == --smoke ]] && SMOKE=1
if [[ $SMOKE == 0 ]] && ! python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "bench/gpu.sh: no CUDA device here (torch $(python -c 'import torch; print(torch.__version__)' 2>/dev/null)): a dry run."
  echo "On a machine with a GPU it would measure, in under 5 minutes, and print as one table:"
  sed -n 's/^#   \([1-5]\.\)/  \1/p; s/^#      /       /p' "$0"
  echo "Run it there as: bash bench/gpu.sh   (results also in \$OUT, a temporary folder by default)"
  exit 0
fi

if [[ $SMOKE == 1 ]]; then  # the CPU, the quickstart spec, a few steps: every step's plumbing, not its figures
  DEVICE=cpu SPEC=specs/quickstart.yaml BATCHES=8,16 STEPS=1 REPEAT=1 E2E=160 RUNNER=144 LIMIT=600 MODEL_BATCH=1
  CONFIGS=fp32,bf16+cl
  TEST_DEVICE=cpu
else
  DEVICE=cuda SPEC=specs/paper_cvae.yaml BATCHES=24,96 STEPS=10 REPEAT=3 E2E=12000 RUNNER=1440 LIMIT=150 MODEL_BATCH=24
  CONFIGS=fp32,tf32+cl,bf16+cl,bf16+cl+compile+graphs
  TEST_DEVICE=cuda
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
BATCH24=(--set 'training.batch_size=[[0, 24]]')  # the paper's last batch size from the first step
start=$(date +%s)
step() {  # step NAME LIMIT COMMAND...: run with a time limit, log to $OUT/NAME.log, say how it went
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "bench/gpu.sh: $name: exit $rc after $(( $(date +%s) - t0 )) s (log: $OUT/$name.log)"
}

step fastpath "$LIMIT" python bench/fastpath.py --device "$DEVICE" --specs "$SPEC" --batch "$BATCHES" \
  --configs "$CONFIGS" --steps "$STEPS" --repeat "$REPEAT" --json "$OUT/fastpath.json"
ARCHSPEC_TEST_DEVICE=$TEST_DEVICE step tests "$LIMIT" python -m pytest -p no:cacheprovider tests/runner/train/test_fastpath.py
tail -n 1 "$OUT/tests.log" >"$OUT/tests.txt"
step model "$LIMIT" python bench/overhead.py --device "$DEVICE" --part model --batch "$MODEL_BATCH" \
  --steps "$STEPS" --repeat "$REPEAT" --json "$OUT/model.json"
step e2e "$LIMIT" python bench/e2e.py --device "$DEVICE" --spec "$SPEC" --samples "$E2E" "${BATCH24[@]}" --json "$OUT/e2e.json"
step runner "$LIMIT" python bench/overhead.py --device "$DEVICE" --spec "$SPEC" --part runner --samples "$RUNNER" \
  --repeat "$REPEAT" "${BATCH24[@]}" --json "$OUT/runner.json"

echo
echo "bench/gpu.sh on $(python -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu (smoke)")'), torch $(python -c 'import torch; print(torch.__version__)'), $(date -u +%Y-%m-%d), $(( $(date +%s) - start )) s:"
python bench/gpu_table.py "$OUT"
