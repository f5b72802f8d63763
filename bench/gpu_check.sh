#!/usr/bin/env bash
# Everything that needs a real GPU, in one go (docs/performance.md, "CUDA"):
#   1. the CUDA test suite (the `cudasim` tests) on the GPU, not the simulator;
#   2. every demo's --smoke run with --device cuda, end to end (these run beside 1);
#   3. bench/gpu.py: minstn's CUDA kernels against PyTorch CUDA on the same card.
# Usage: MINSTN_DATA=... bench/gpu_check.sh OUT_DIR   (logs, bench JSON/Markdown, summary.txt)
set -u
out=${1:-gpu-check}
mkdir -p "$out"
out=$(cd "$out" && pwd)
: >"$out/summary.txt"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-/tmp/minstn-numba}"
PY=${PYTHON:-python3}
# the numba-cuda of the lent machines still names np.row_stack, which NumPy 2.5 removed:
# alias it at start-up
if ! $PY -c "import numpy; numpy.row_stack" 2>/dev/null; then
    mkdir -p "$out/shim"
    echo "import numpy; numpy.row_stack = numpy.vstack" >"$out/shim/sitecustomize.py"
    export PYTHONPATH="$out/shim:$PYTHONPATH"
fi

step() {   # step NAME SECONDS CMD...: run CMD under a time limit, log to OUT/NAME.log
    local name=$1 limit=$2 t0=$SECONDS rc
    shift 2
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    rc=$?
    echo "$name: rc=$rc, $((SECONDS - t0)) s" | tee -a "$out/summary.txt"
}

{ nvidia-smi; $PY -m pip list 2>/dev/null | grep -iE "^(numba|numba-cuda|numpy|torch|llvmlite) "
  $PY -c "import sys, numpy, numba, torch; from numba import cuda
print(sys.version); print('numpy', numpy.__version__, 'numba', numba.__version__,
      'torch', torch.__version__, 'cuda', torch.version.cuda)
print('numba sees', cuda.get_current_device().name, cuda.is_available())"; } >"$out/env.txt" 2>&1
cat "$out/env.txt"
step probe 60 $PY -c "import numpy as np, minstn
x = minstn.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True, device='cuda')
(x * x).sum().backward(); print('grad', x.grad.copy_to_host().tolist())"
grep -q "^probe: rc=0" "$out/summary.txt" || { cat "$out/probe.log"; exit 1; }

xdist=$($PY -c "import xdist" 2>/dev/null && echo "-n 8")   # pytest-xdist, if there
step tests 300 $PY -m pytest -q -m cudasim -p no:cacheprovider $xdist &
tests=$!
for demo in rts addition same_image timeseries; do
    step "demo_$demo" 75 $PY demos/$demo.py --smoke --device cuda --run-id gpu-smoke
done
wait $tests
step bench 360 $PY bench/gpu.py --repeats 10 --min-time 0.01 --json "$out/bench.json" \
    --markdown "$out/bench.md"
tail -n 3 "$out"/tests.log "$out"/demo_*.log
cat "$out/bench.md" "$out/summary.txt"
