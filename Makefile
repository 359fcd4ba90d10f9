# faceinpaint — every target creates .venv when it is missing.
#   make demo   data + assets + the main job (notebook 00 → outputs/quickstart)
#   make test   the whole test suite (unit, papermill smoke runs, nbval), < 20 min on 2 cores
#   make lab    JupyterLab on notebooks/
#   make data   prepare data and assets only
#   make bench  benchmarks/*.py → benchmarks/results/*.json
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.faceinpaint-installed
JOBS ?= 2
export OMP_NUM_THREADS ?= 1
export MPLBACKEND ?= Agg
export PYDEVD_DISABLE_FILE_VALIDATION = 1

.PHONY: demo test lab data bench venv clean-outputs strip

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

data: $(STAMP)
	$(PY) -m faceinpaint data prepare

demo: data
	@mkdir -p outputs/quickstart
	$(VENV)/bin/papermill --no-progress-bar notebooks/00_quickstart.ipynb outputs/quickstart/00_quickstart.ipynb -p out_dir outputs/quickstart
	@echo "demo: figure and metrics in outputs/quickstart/"

test: data
	$(PY) -m pytest -n $(JOBS) -p no:cacheprovider tests
	$(PY) -m pytest -p no:cacheprovider --nbval-lax --sanitize-with tests/nbval_sanitize.cfg notebooks/01_data.ipynb notebooks/02_masks.ipynb

bench: data
	@mkdir -p benchmarks/results
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b --out benchmarks/results; done

lab: $(STAMP)
	$(PY) -m pip install --quiet jupyterlab
	$(VENV)/bin/jupyter lab notebooks/

strip: $(STAMP)
	$(VENV)/bin/nbstripout --keep-output --keep-count --keep-id notebooks/01_data.ipynb notebooks/02_masks.ipynb || true
	@for nb in notebooks/*.ipynb; do case $$nb in *01_data*|*02_masks*) ;; *) $(VENV)/bin/nbstripout $$nb ;; esac; done

clean-outputs:
	rm -rf outputs
