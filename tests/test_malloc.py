"""minstn keeps a training step's freed memory for the next step (glibc's malloc)."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Experiment 1's ST-CNN training step (bench/steps.py's row): page faults per step after
# warm-up. With glibc's defaults the heap was trimmed and regrown every step (500-900
# faults a step on the project's VM).
PROBE = """
import hashlib, resource, sys
sys.path.insert(0, "bench")
import steps
import minstn._malloc as m
x, y = steps.batch_of("exp1-stcnn")
model = steps.build("exp1-stcnn")
step = steps.minstn_step(model, "exp1-stcnn", x, y)
for _ in range(4):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    step()
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 4
digest = hashlib.sha256(b"".join(p.data.tobytes() for p in model.parameters())).hexdigest()
print(faults, m.kept, digest)
"""


def probe(malloc):
    env = dict(os.environ, MINSTN_MALLOC=malloc, OPENBLAS_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), out[1] == "True", out[2]


def test_a_training_step_reuses_freed_memory():
    faults, tuned, _ = probe("")
    if not tuned:
        pytest.skip("not glibc: mallopt is not available")
    assert faults < 50, f"{faults} page faults per step"


def test_opt_out_keeps_the_system_allocator_and_the_numbers():
    """Where arrays live changes no result: 8 training steps end in the same bits."""
    kept = probe("")[2]
    _, tuned_system, system = probe("system")
    assert not tuned_system
    assert kept == system
