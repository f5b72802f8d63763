# minstn — every target works as the first command on a fresh clone (Python >= 3.10):
# the venv is created and the package installed on demand.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
# Demos run one thread per process by default: experiments 1-3 train their models side by
# side, one process per core, and a run's numbers then do not depend on the machine's core
# count (docs/results.md). A single process does use several cores well (docs/performance.md,
# "Two threads"). Override: make demo-timeseries DEMO_ENV=
DEMO_ENV ?= OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
# the data sets beside the checkout, if there (else the loaders download into ~/.cache/minstn)
ifneq ($(wildcard ../shared/data),)
export MINSTN_DATA ?= $(abspath ../shared/data)
endif

.PHONY: install install-torch test test-nojit test-cudasim test-slow bench tour demo-rst demo-rts \
        demo-addition demo-same-image demo-timeseries demo-distortions demos docs clean

install: $(VENV)/.installed
$(VENV)/.installed: setup.py
	$(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# torch is optional: parity tests and benchmarks use it when present
install-torch: install
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q 'torch==2.13.0'

# CPU suite (the CUDA tests skip without a GPU), then the CUDA kernels in the simulator
test: install
	$(PYTEST) -q
	NUMBA_ENABLE_CUDASIM=1 $(PYTEST) -q -m cudasim

test-nojit: install
	NUMBA_DISABLE_JIT=1 $(PYTEST) -q -x

test-cudasim: install
	NUMBA_ENABLE_CUDASIM=1 $(PYTEST) -q -m cudasim

test-slow: install
	$(PYTEST) -q -m slow

bench: install-torch
	$(PY) bench/run.py

# a guided tour in four stops, on one core (figures into docs/figures/)
tour: install
	$(DEMO_ENV) $(PY) demos/tour.py

demo-rst demo-rts: install
	$(DEMO_ENV) $(PY) demos/rts.py

demo-addition: install
	$(DEMO_ENV) $(PY) demos/addition.py

demo-same-image: install
	$(DEMO_ENV) $(PY) demos/same_image.py

demo-timeseries: install
	$(DEMO_ENV) $(PY) demos/timeseries.py

# Jaderberg et al.'s Table 1 (R, RTS, P, E x FCN/CNN/ST-FCN/ST-CNN x affine/projective/TPS)
demo-distortions: install
	$(DEMO_ENV) $(PY) demos/distortions.py

demos: demo-rts demo-addition demo-same-image demo-timeseries

docs: install
	$(PY) docs/make_figures.py
	$(PY) docs/make_results.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
